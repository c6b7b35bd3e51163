package org.mmunotifier.mm;

import java.util.concurrent.atomic.AtomicInteger;
import org.mmunotifier.srcu.Srcu;

/**
 * The one SRCU domain shared by every mm (Linux's {@code DEFINE_STATIC_SRCU(srcu)} in
 * mm/mmu_notifier.c), and the per-thread calling context that makes the kernel's debug checks
 * ({@code might_sleep}, {@code non_block_start}, the SRCU self-deadlock) into exceptions.
 */
final class NotifierDomain {
    /*
     * Context per thread
     * ------------------
     * nonBlock  > 0 while this thread runs callbacks for a non-blockable range (the kernel's
     *             non_block_start/non_block_end bracket). Blocking methods refuse.
     * inFree    > 0 while this thread runs freeNotifier (an SRCU callback). Methods that wait for
     *             the domain refuse: they would wait for the callback that is running them.
     * Inside a read section of SRCU (every other callback) the same methods refuse; that is
     * SRCU.readLockHeld(), no state of ours.
     *
     * NON_BLOCK_THREADS counts threads whose nonBlock is above 0, so that checkMayBlock (on the
     * blockable invalidation path and in get) costs one shared load, not a ThreadLocal lookup,
     * while no non-blockable range is being dispatched anywhere. A thread increments it before
     * it runs its first non-blockable callback and decrements it after the last, so its own
     * checks, ordered after the increment by program order, always take the slow path. Other
     * threads may see a stale count; that only sends them down the slow path, whose answer for
     * them is "may block", which is right.
     */

    static final Srcu SRCU = new Srcu("mmu_notifier");

    static final class Context {
        int nonBlock;
        int inFree;
    }

    static final ThreadLocal<Context> CONTEXT = ThreadLocal.withInitial(Context::new);

    /** Threads now running callbacks of a non-blockable range; see the overview. */
    static final AtomicInteger NON_BLOCK_THREADS = new AtomicInteger();

    private NotifierDomain() {
    }

    /** non_block_start(): pair with {@link #exitNonBlock}. */
    static Context enterNonBlock() {
        Context c = CONTEXT.get();
        if (c.nonBlock++ == 0) {
            NON_BLOCK_THREADS.incrementAndGet();
        }
        return c;
    }

    /** non_block_end(). */
    static void exitNonBlock(Context c) {
        if (--c.nonBlock == 0) {
            NON_BLOCK_THREADS.decrementAndGet();
        }
    }

    /** might_sleep(): refuses inside a non-blockable callback. */
    static void checkMayBlock(String op) {
        if (NON_BLOCK_THREADS.get() != 0 && CONTEXT.get().nonBlock > 0) {
            throw new IllegalStateException(op + " called from a non-blockable callback: the range is not "
                    + "blockable, so the callback must not block (return false from invalidateRangeStart "
                    + "instead, and retry from a blockable context)");
        }
    }

    /** might_sleep() plus the SRCU self-deadlock check, for methods that wait for the domain. */
    static void checkMayWaitForDomain(String op) {
        Context c = CONTEXT.get();
        if (c.nonBlock > 0) {
            checkMayBlock(op);
        }
        if (SRCU.readLockHeld()) {
            throw new IllegalStateException(op + " called from an MMU-notifier callback: it waits for every "
                    + "running callback, including this one, and would deadlock (put() is allowed in a callback; "
                    + "unregister and synchronize are not)");
        }
        if (c.inFree > 0) {
            throw new IllegalStateException(op + " called from freeNotifier: it waits for every deferred free, "
                    + "including the one running it, and would deadlock");
        }
    }
}
