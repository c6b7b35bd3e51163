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
 * use from another. <b>Cost:</b> {@link #current()} is one {@code ThreadLocal} lookup;
 * {@link #enter} and {@link #exit} write a few fields of this thread's object and allocate
 * nothing once the stack has been as deep before.
 */
public final class ExecutionContext {
    /*
     * Guards: every field is confined to the owning thread (the ThreadLocal's).
     *   depth        number of frames
     *   atomicDepth  number of atomic frames among them
     *   what/who/atomic[i]  frame i (0 = outermost); grown by doubling, never shrunk
     */

    private static final ThreadLocal<ExecutionContext> CURRENT = ThreadLocal.withInitial(ExecutionContext::new);

    private int depth;
    private int atomicDepth;
    private String[] what = new String[4];
    private Object[] who = new Object[4];
    private boolean[] atomic = new boolean[4];

    private ExecutionContext() {
    }

    /** @return the calling thread's context */
    public static ExecutionContext current() {
        return CURRENT.get();
    }

    /**
     * Pushes a frame. Pair it with one {@link #exit()} in a {@code finally} block.
     *
     * @param callback the callback's name, for messages (a constant: it is stored, not copied)
     * @param subject what it runs on, for messages (its {@code toString()} is called only when a
     *     message is built); may be null
     * @param mustNotSleep whether the frame is atomic: blocking methods refuse inside it
     */
    public void enter(String callback, Object subject, boolean mustNotSleep) {
        int d = depth;
        if (d == what.length) {
            what = Arrays.copyOf(what, d * 2);
            who = Arrays.copyOf(who, d * 2);
            atomic = Arrays.copyOf(atomic, d * 2);
        }
        what[d] = callback;
        who[d] = subject;
        atomic[d] = mustNotSleep;
        if (mustNotSleep) {
            atomicDepth++;
        }
        depth = d + 1;
    }

    /**
     * Pops the innermost frame.
     *
     * @throws IllegalStateException if there is none; nothing changes
     */
    public void exit() {
        int d = depth - 1;
        if (d < 0) {
            throw new IllegalStateException("ExecutionContext.exit() on thread '" + Thread.currentThread().getName()
                    + "' without a matching enter()");
        }
        if (atomic[d]) {
            atomicDepth--;
        }
        who[d] = null; // do not keep the subject reachable
        depth = d;
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

    /**
     * @return "the X callback on Y" for the innermost frame, or "no callback" outside every frame
     */
    public String describeInnermost() {
        return depth == 0 ? "no callback" : describe(depth - 1);
    }

    private String describeInnermostAtomic() {
        for (int i = depth - 1; i >= 0; i--) {
            if (atomic[i]) {
                return describe(i);
            }
        }
        return "an atomic section";
    }

    private String describe(int i) {
        return "the " + what[i] + " callback" + (who[i] == null ? "" : " on " + who[i]);
    }

    @Override
    public String toString() {
        return "ExecutionContext[depth=" + depth + ", atomic=" + atomicDepth + ", innermost=" + describeInnermost() + "]";
    }
}
