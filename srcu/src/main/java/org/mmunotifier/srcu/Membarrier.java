package org.mmunotifier.srcu;

import java.lang.invoke.MethodHandle;
import java.lang.reflect.Array;
import java.lang.reflect.Method;
import java.util.Locale;
import java.util.Optional;

/**
 * Linux's {@code membarrier(2)} with {@code MEMBARRIER_CMD_PRIVATE_EXPEDITED}, called through the
 * Foreign Function &amp; Memory API (final in JDK 22): the heavy barrier that lets a reader leave
 * out its own fence. When {@link #barrier()} returns, every thread of this process that was
 * running on some CPU has executed a full memory barrier between two of its instructions (the
 * kernel interrupts each such CPU), and every thread that was not running will pass one (the
 * context switch) before it runs again. The updater pays about a microsecond per call; the
 * reader pays nothing.
 *
 * <p>The API is found reflectively, so that this class compiles with {@code --release 17} and one
 * jar serves every JDK: on a JDK before 22 it reports itself unavailable. Only the set-up is
 * reflective; {@link #barrier()} is one {@code invokeExact} of a downcall handle.
 *
 * <p>It is used only where all of this holds, checked once per JVM when the class initializes:
 * Linux on x86-64 or AArch64; JDK 22 or later; native access enabled for this class's module
 * ({@code --enable-native-access=ALL-UNNAMED} on the class path, or the module's name on the
 * module path, or {@code Enable-Native-Access: ALL-UNNAMED} in an executable jar's manifest:
 * without it the JDK would print a warning, and later JDKs refuse); the kernel supports the
 * private expedited command ({@code MEMBARRIER_CMD_QUERY}); and the process registered for it
 * ({@code MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED}, once, a few milliseconds). Otherwise
 * {@link #available()} is false and {@link #status()} says which condition failed.
 */
final class Membarrier {
    /** {@code MEMBARRIER_CMD_QUERY}: the mask of supported commands. */
    static final int CMD_QUERY = 0;
    /** {@code MEMBARRIER_CMD_PRIVATE_EXPEDITED}. */
    static final int CMD_PRIVATE_EXPEDITED = 1 << 3;
    /** {@code MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED}. */
    static final int CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4;

    /** {@code syscall(long, ...)} as {@code (long nr, int cmd, int flags, int cpu) long}; null if unavailable. */
    private static final MethodHandle SYSCALL;
    /** The system call's number on this architecture. */
    private static final long NR;
    /** Whether the process registered for the private expedited command. */
    private static final boolean AVAILABLE;
    /** What {@link #status()} says. */
    private static final String STATUS;

    static {
        long nr = syscallNumber(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
        MethodHandle handle = null;
        boolean ok = false;
        String status;
        int feature = Runtime.version().feature();
        if (nr < 0) {
            status = "not Linux on x86-64 or AArch64 (" + System.getProperty("os.name") + ", "
                    + System.getProperty("os.arch") + ")";
        } else if (feature < 22) {
            status = "needs JDK 22 or later for the Foreign Function & Memory API (this is JDK " + feature + ")";
        } else if (!nativeAccessEnabled()) {
            status = "native access is not enabled for " + describeModule()
                    + " (run with --enable-native-access=" + moduleNameForFlag() + ")";
        } else {
            String st;
            try {
                handle = downcallSyscall();
                long mask = (long) handle.invokeExact(nr, CMD_QUERY, 0, 0);
                if (mask < 0) {
                    st = "the kernel refuses membarrier (MEMBARRIER_CMD_QUERY returned " + mask + ")";
                } else if ((mask & (CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED))
                        != (CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED)) {
                    st = "the kernel lacks MEMBARRIER_CMD_PRIVATE_EXPEDITED (supported commands: 0x"
                            + Long.toHexString(mask) + ")";
                } else if ((long) handle.invokeExact(nr, CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0) {
                    st = "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED failed";
                } else {
                    ok = true;
                    st = "membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) registered";
                }
            } catch (Throwable t) { // ReflectiveOperationException, IllegalCallerException, linkage errors
                st = "the FFM downcall could not be made: " + t;
            }
            status = st;
        }
        NR = nr;
        SYSCALL = ok ? handle : null;
        AVAILABLE = ok;
        STATUS = status;
    }

    private Membarrier() {
    }

    /** @return whether {@link #barrier()} may be called: see the class comment */
    static boolean available() {
        return AVAILABLE;
    }

    /** @return why {@link #available()} is what it is, in one line */
    static String status() {
        return STATUS;
    }

    /**
     * {@code membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)}: a full memory barrier on every
     * running thread of this process, the caller's included, before it returns.
     *
     * @throws IllegalStateException if it is not {@link #available()}, or the kernel refused
     *     (it cannot once registered)
     */
    static void barrier() {
        MethodHandle h = SYSCALL;
        if (h == null) {
            throw new IllegalStateException("membarrier is not available: " + STATUS);
        }
        long r;
        try {
            r = (long) h.invokeExact(NR, CMD_PRIVATE_EXPEDITED, 0, 0);
        } catch (Throwable t) {
            throw new IllegalStateException("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) threw", t);
        }
        if (r != 0) {
            throw new IllegalStateException("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) returned " + r);
        }
    }

    /** @return {@code __NR_membarrier} for this OS and architecture, or -1 where it is not Linux on one we know */
    static long syscallNumber(String osName, String osArch) {
        if (!osName.toLowerCase(Locale.ROOT).startsWith("linux")) {
            return -1;
        }
        return switch (osArch) {
            case "amd64", "x86_64" -> 324; // arch/x86/entry/syscalls/syscall_64.tbl
            case "aarch64" -> 283;         // include/uapi/asm-generic/unistd.h
            default -> -1;
        };
    }

    /** {@code Module.isNativeAccessEnabled()} (JDK 22+) for this class's module; false if it cannot be asked. */
    private static boolean nativeAccessEnabled() {
        try {
            Method m = Module.class.getMethod("isNativeAccessEnabled");
            return (boolean) m.invoke(Membarrier.class.getModule());
        } catch (ReflectiveOperationException | RuntimeException e) {
            return false;
        }
    }

    private static String describeModule() {
        Module m = Membarrier.class.getModule();
        return m.isNamed() ? "module " + m.getName() : "the class path (the unnamed module)";
    }

    private static String moduleNameForFlag() {
        Module m = Membarrier.class.getModule();
        return m.isNamed() ? m.getName() : "ALL-UNNAMED";
    }

    /**
     * {@code Linker.nativeLinker().downcallHandle(syscall, FunctionDescriptor.of(JAVA_LONG,
     * JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(1))}, reflectively.
     * {@code syscall} is variadic after its first argument: the linker must pass the rest as C
     * variadic arguments (an int stays an int).
     */
    private static MethodHandle downcallSyscall() throws ReflectiveOperationException {
        Class<?> linkerC = Class.forName("java.lang.foreign.Linker");
        Class<?> optionC = Class.forName("java.lang.foreign.Linker$Option");
        Class<?> lookupC = Class.forName("java.lang.foreign.SymbolLookup");
        Class<?> layoutC = Class.forName("java.lang.foreign.MemoryLayout");
        Class<?> valueLayoutC = Class.forName("java.lang.foreign.ValueLayout");
        Class<?> descriptorC = Class.forName("java.lang.foreign.FunctionDescriptor");
        Class<?> segmentC = Class.forName("java.lang.foreign.MemorySegment");

        Object linker = linkerC.getMethod("nativeLinker").invoke(null);
        Object lookup = linkerC.getMethod("defaultLookup").invoke(linker);
        Optional<?> symbol = (Optional<?>) lookupC.getMethod("find", String.class).invoke(lookup, "syscall");
        if (symbol.isEmpty()) {
            throw new NoSuchMethodException("the C library exports no syscall()");
        }
        Object jlong = valueLayoutC.getField("JAVA_LONG").get(null);
        Object jint = valueLayoutC.getField("JAVA_INT").get(null);
        Object args = Array.newInstance(layoutC, 4);
        Array.set(args, 0, jlong);
        Array.set(args, 1, jint);
        Array.set(args, 2, jint);
        Array.set(args, 3, jint);
        Object descriptor = descriptorC.getMethod("of", layoutC, args.getClass()).invoke(null, jlong, args);
        Object options = Array.newInstance(optionC, 1);
        Array.set(options, 0, optionC.getMethod("firstVariadicArg", int.class).invoke(null, 1));
        return (MethodHandle) linkerC.getMethod("downcallHandle", segmentC, descriptorC, options.getClass())
                .invoke(linker, symbol.get(), descriptor, options);
    }
}
