package org.mmunotifier.srcu;

/**
 * Whether the fence-free reader ({@link ReaderFlavour#FENCE_FREE}) may run in this JVM, decided
 * once. Its soundness rests on two things the Java memory model does not state: the membarrier
 * system call ({@link Membarrier}), and HotSpot's keeping an opaque store in program order with
 * every later memory access of the thread (docs/srcu.md, "The fence-free reader"). So it needs:
 * the membarrier registered, a HotSpot VM, and no JVMCI compiler (Graal models opaque accesses
 * its own way, which we have not checked).
 */
final class FenceFreeSupport {
    /** Null if the fence-free reader may run, else why not. */
    private static final String BLOCKER = computeBlocker();

    private FenceFreeSupport() {
    }

    /** @return null if the fence-free reader may run here, else the reason it may not */
    static String blocker() {
        return BLOCKER;
    }

    /** @return the conditions that hold, in words (for a domain's flavour reason) */
    static String describe() {
        return System.getProperty("java.vm.name") + " " + Runtime.version() + ", no JVMCI compiler, "
                + Membarrier.status();
    }

    private static String computeBlocker() {
        String vm = System.getProperty("java.vm.name", "");
        if (!vm.contains("HotSpot") && !vm.contains("OpenJDK")) {
            return "the VM is not HotSpot (java.vm.name=" + vm + ")";
        }
        String jvmci = jvmciInUse();
        if (jvmci != null) {
            return jvmci;
        }
        if (!Membarrier.available()) {
            return Membarrier.status();
        }
        return null;
    }

    /**
     * @return why a JVMCI compiler may be in use, or null. JDK 17 sets the property
     *     {@code jdk.internal.vm.ci.enabled} when JVMCI is enabled; later JDKs hide it, but the
     *     JVMCI module is then in the boot layer (also when an application adds it by hand, which
     *     errs on the safe side).
     */
    private static String jvmciInUse() {
        if ("true".equals(System.getProperty("jdk.internal.vm.ci.enabled"))) {
            return "JVMCI is enabled (jdk.internal.vm.ci.enabled=true): a JVMCI compiler may order opaque "
                    + "accesses differently";
        }
        if (ModuleLayer.boot().findModule("jdk.internal.vm.ci").isPresent()) {
            return "the JVMCI module jdk.internal.vm.ci is in the boot layer: a JVMCI compiler may order opaque "
                    + "accesses differently";
        }
        return null;
    }
}
