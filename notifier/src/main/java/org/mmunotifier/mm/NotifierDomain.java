package org.mmunotifier.mm;

import org.mmunotifier.srcu.ExecutionContext;
import org.mmunotifier.srcu.Srcu;

/**
 * The one SRCU domain shared by every mm (Linux's {@code DEFINE_STATIC_SRCU(srcu)} in
 * mm/mmu_notifier.c), and the context checks that turn the kernel's debug reports
 * ({@code might_sleep}, lockdep, the SRCU self-deadlock) into exceptions.
 */
final class NotifierDomain {
    /*
     * Contexts
     * --------
     * The calling thread's frames live in org.mmunotifier.srcu.ExecutionContext (one per thread,
     * confined to it). Dispatch pushes one frame around every callback it runs: atomic for the
     * callbacks that 5.4 runs under the page-table spinlock or in a non_block_start() section
     * (invalidateRange, the young callbacks, changePte, freeNotifier, the start and end of a
     * non-blockable range), sleepable for the others (release, the start and end of a blockable
     * range). The checks read those frames:
     *
     *   checkMayBlock          might_sleep(): refuses inside an atomic frame.
     *   checkMayWaitForDomain  might_sleep() plus "not inside any notifier callback or
     *                          freeNotifier": the method waits for every running callback and
     *                          every queued free, so it would wait for itself.
     *   MmStruct's mmap lock   refuses inside any frame (the lock-order rule, see MmStruct).
     *
     * Srcu's own synchronize/barrier read the same frames, so a driver that waits for another
     * SRCU domain from an atomic callback is refused too.
     */

    static final Srcu SRCU = new Srcu("mmu_notifier");

    private NotifierDomain() {
    }

    /** might_sleep(): refuses inside an atomic frame (a non-blockable callback). */
    static void checkMayBlock(String op) {
        ExecutionContext.current().mightSleep(op);
    }

    /**
     * might_sleep() plus the self-deadlock check, for the methods that wait for the domain
     * (unregister, synchronize, the last mmput): refused inside any notifier callback, including
     * {@code freeNotifier}, and inside a read section of the domain.
     */
    static void checkMayWaitForDomain(String op) {
        ExecutionContext c = ExecutionContext.current();
        c.mightSleep(op);
        if (c.depth() != 0 || SRCU.readLockHeld()) {
            String where = c.depth() != 0 ? c.describeInnermost() : "inside a read section of the notifier domain";
            throw new IllegalStateException(op + " called from " + where + ": it waits for every "
                    + "running MMU-notifier callback and every queued free, including this one, and would deadlock "
                    + "(put() is allowed in a callback; unregister, synchronize and the last mmput are not); "
                    + "nothing changed");
        }
    }
}
