package org.mmunotifier.srcu;

import java.util.Arrays;

/**
 * What the calling thread is running, as far as the kernel's debug checks care: a stack of named
 * frames (callbacks), each either <em>atomic</em> (it must not sleep: the kernel's spinlock-held or
 * {@code non_block_start()} sections) or not. Blocking methods call {@link #mightSleep(String)}
 * (the kernel's {@code might_sleep()}), which throws {@link IllegalStateException} inside an atomic
 * frame instead of printing a splat. {@link Srcu#synchronize()}, {@link Srcu#synchronizeExpedited()},
 * {@link Srcu#barrier()} and {@link Srcu#close()} check it.
 *
 * <p>Libraries built on this module push a frame around each callback they run (the MMU
 * notifiers push one per callback, atomic where Linux runs that callback under a spinlock or in
 * a non-blockable section), and may refuse operations inside any frame (a lock-order rule, as
 * lockdep would report it).
 *
 * <p><b>Threads:</b> an instance belongs to one thread ({@link #current()}); it is not safe to
 * use from another. <b>Cost:</b> {@link #current()} is one {@code ThreadLocal} lookup (a
 * thread that holds an {@link Srcu.Reader} has its context without one: {@link Srcu.Reader#context()});
 * {@link #enter} and {@link #exit} write a few int fields of this thread's object, store no
 * reference and allocate nothing once the stack has been as deep before.
 */
public final class ExecutionContext {
    /*
     * Guards: every instance field is confined to the owning thread (the ThreadLocal's).
     *   depth        number of frames
     *   atomicDepth  number of atomic frames among them
     *   stack[i]     frame i (0 = outermost) as Frame.code: an int, so that entering a frame stores
     *                no reference (a reference store pays the collector's write barrier, which for
     *                G1 includes a StoreLoad fence; this runs once per callback)
     *   FRAMES       every Frame ever created, indexed by code >>> 1; copy-on-write under
     *                REGISTRY's monitor, volatile read only when a message is built
     */

    /**
     * A kind of frame: a callback's name and whether it runs in atomic context. Create one per
     * kind, once (a {@code static final} field): frames are interned for the life of the JVM.
     */
    public static final class Frame {
        final String callback;
        final boolean atomic;
        final int code; // index << 1 | atomic

        private Frame(String callback, boolean atomic, int index) {
            this.callback = callback;
            this.atomic = atomic;
            this.code = index << 1 | (atomic ? 1 : 0);
        }

        /** @return the callback's name */
        public String callback() {
            return callback;
        }

        /** @return whether blocking calls are refused inside this frame */
        public boolean atomic() {
            return atomic;
        }

        @Override
        public String toString() {
            return "the " + callback + " callback" + (atomic ? " (atomic)" : "");
        }
    }

    private static final Object REGISTRY = new Object();
    private static volatile Frame[] frames = new Frame[0];
    private static final ThreadLocal<ExecutionContext> CURRENT = ThreadLocal.withInitial(ExecutionContext::new);

    private int depth;
    private int atomicDepth;
    private int[] stack = new int[8];

    private ExecutionContext() {
    }

    /**
     * Defines a kind of frame. Call it once per kind and keep the result.
     *
     * @param callback the callback's name, for messages
     * @param mustNotSleep whether the frame is atomic: blocking methods refuse inside it
     * @return the frame kind
     */
    public static Frame frame(String callback, boolean mustNotSleep) {
        java.util.Objects.requireNonNull(callback, "callback");
        synchronized (REGISTRY) {
            Frame[] old = frames;
            Frame f = new Frame(callback, mustNotSleep, old.length);
            Frame[] a = Arrays.copyOf(old, old.length + 1);
            a[old.length] = f;
            frames = a;
            return f;
        }
    }

    /** @return the calling thread's context */
    public static ExecutionContext current() {
        return CURRENT.get();
    }

    /**
     * Pushes a frame. Pair it with one {@link #exit()} in a {@code finally} block. Stores no
     * reference and allocates nothing once the stack has been as deep before.
     *
     * @param frame the kind of frame, from {@link #frame}
     */
    public void enter(Frame frame) {
        int d = depth;
        int[] st = stack;
        if (d == st.length) {
            st = grow();
        }
        int code = frame.code;
        st[d] = code;
        atomicDepth += code & 1;
        depth = d + 1;
    }

    private int[] grow() { // out of line: keeps enter() small enough to inline
        stack = Arrays.copyOf(stack, stack.length * 2);
        return stack;
    }

    /**
     * Pops the innermost frame.
     *
     * @throws IllegalStateException if there is none; nothing changes
     */
    public void exit() {
        int d = depth - 1;
        if (d < 0) {
            throw unmatchedExit();
        }
        atomicDepth -= stack[d] & 1;
        depth = d;
    }

    private static IllegalStateException unmatchedExit() {
        return new IllegalStateException("ExecutionContext.exit() on thread '" + Thread.currentThread().getName()
                + "' without a matching enter()");
    }

    /** @return the number of frames the thread is in (0 outside every callback) */
    public int depth() {
        return depth;
    }

    /** @return whether the thread is inside an atomic frame, where it must not sleep */
    public boolean inAtomic() {
        return atomicDepth > 0;
    }

    /**
     * The kernel's {@code might_sleep()}: refuses a blocking call inside an atomic frame.
     *
     * @param call the blocking call, for the message (e.g. {@code "Srcu.synchronize()"})
     * @throws IllegalStateException naming the call and the innermost atomic frame, if the
     *     thread is inside one; nothing changes
     */
    public void mightSleep(String call) {
        if (atomicDepth > 0) {
            throw new IllegalStateException(call + " called from " + describeInnermostAtomic()
                    + ", which runs in atomic context (the kernel holds a spinlock or is in a non-blockable "
                    + "section there) and must not sleep; nothing changed");
        }
    }

    /**
     * {@code current().mightSleep(call)}.
     *
     * @param call the blocking call, for the message
     * @throws IllegalStateException inside an atomic frame; nothing changes
     */
    public static void checkMightSleep(String call) {
        CURRENT.get().mightSleep(call);
    }

    /** @return "the X callback" for the innermost frame, or "no callback" outside every frame */
    public String describeInnermost() {
        return depth == 0 ? "no callback" : describe(depth - 1);
    }

    /** Only while {@code atomicDepth > 0}: then some frame is atomic, and the loop finds it. */
    private String describeInnermostAtomic() {
        int i = depth - 1;
        while ((stack[i] & 1) == 0) {
            i--;
        }
        return describe(i);
    }

    private String describe(int i) {
        return "the " + frames[stack[i] >>> 1].callback + " callback";
    }

    @Override
    public String toString() {
        return "ExecutionContext[depth=" + depth + ", atomic=" + atomicDepth + ", innermost=" + describeInnermost() + "]";
    }
}
