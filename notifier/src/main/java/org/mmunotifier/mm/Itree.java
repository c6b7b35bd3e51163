package org.mmunotifier.mm;

import java.util.ArrayList;
import java.util.concurrent.locks.LockSupport;

/**
 * The interval-notifier state of one mm (Linux 5.5's {@code has_itree}, {@code invalidate_seq},
 * {@code active_invalidate_ranges}, {@code itree}, {@code wq} and {@code deferred_list} of the
 * per-mm struct, 99cb252f5e68): present once the first interval subscription was inserted.
 */
final class Itree {
    /*
     * Overview
     * --------
     * The mm's sequence 'invalidateSeq' starts at 2. Even: no invalidation is walking the tree.
     * Odd: at least one invalidation found an overlapping interval and may be calling callbacks,
     * walking the tree WITHOUT the monitor; the tree must not change until the sequence is even
     * again. Inserts and removes that arrive while it is odd go to 'deferred' and are applied by
     * the end of the last active invalidation, which also makes the sequence even (one step up)
     * and wakes every waiter (readBegin, remove).
     *
     * A subscription's sequence (MmuIntervalNotifier.invalidateSeq) is always odd. It equals the
     * mm's sequence exactly while an invalidation that called (or will call) it is in progress:
     * the callback stores the odd current value with setSeq, and an insert made during an
     * invalidation stores it too. readBegin waits while they are equal.
     *
     * Guards
     * ------
     *   invalidateSeq   written under this monitor; volatile so that the test-only pre-5.18
     *                   remove (LEGACY_UNLOCKED_REMOVE_WAIT) and diagnostics can read it without
     *                   the monitor. Every wait of the library reads it under the monitor.
     *   active          this monitor
     *   tree            written under this monitor, and only while invalidateSeq is even; read
     *                   under the monitor, or without it by an invalidation that made the
     *                   sequence odd (it cannot change until that invalidation has ended)
     *   deferred        this monitor
     *   MmuIntervalNotifier.node, .onDeferred   this monitor (node also read by the unlocked
     *                   walk: it does not change while the sequence is odd)
     *   endHook         test-only; set before the race it stages
     *
     * Memory ordering
     * ---------------
     * A walk's unlocked reads of the tree follow its invStart (monitor enter/exit), which follows
     * every tree write (all made under the monitor before the sequence turned odd). A tree write
     * after the walk needs the sequence even, which needs the walk's invEnd (monitor) first: so
     * the walk's reads happen-before the write. [Required: the tree never changes under a walk.]
     */

    /**
     * Test-only: the pre-5.18 remove, which waited for the deferred removal reading the mm's
     * sequence without the lock (fixed by 319561669a59). Negative control of the remove race.
     */
    static volatile boolean legacyUnlockedRemoveWait;

    volatile long invalidateSeq = 2;
    int active;
    final IntervalTree<MmuIntervalNotifier> tree = new IntervalTree<>();
    final ArrayList<MmuIntervalNotifier> deferred = new ArrayList<>();

    /**
     * Test-only: run by {@link #invEnd()} under the monitor, after the sequence became even and
     * before the deferred list is applied: the window of the remove race.
     */
    Runnable endHook;

    /**
     * mn_itree_inv_start_range: one more active invalidation; if an interval overlaps
     * {@code [lo, hi]} (unsigned, inclusive) the sequence becomes odd and the walk may run.
     *
     * @return the odd current sequence if an interval overlaps; 0 if none does (one descent)
     */
    synchronized long invStart(long lo, long hi) {
        active++;
        if (!tree.anyOverlap(lo, hi)) {
            return 0;
        }
        long seq = invalidateSeq | 1;
        invalidateSeq = seq;
        return seq;
    }

    /**
     * mn_itree_inv_end: one active invalidation fewer; the last one, if the sequence is odd,
     * makes it even, applies the deferred inserts and removes, and wakes every waiter.
     */
    synchronized void invEnd() {
        if (active <= 0) {
            throw new IllegalStateException("interval-tree invalidation ended without a start");
        }
        if (--active != 0 || (invalidateSeq & 1) == 0) {
            return;
        }
        invalidateSeq = invalidateSeq + 1;
        Runnable hook = endHook;
        if (hook != null) {
            hook.run();
        }
        for (MmuIntervalNotifier sub : deferred) {
            sub.onDeferred = false;
            if (sub.node == null) {        // a deferred insert
                sub.node = tree.insert(sub, sub.start, sub.last);
            } else {                       // a deferred remove
                tree.remove(sub.node);
                sub.node = null;
            }
        }
        deferred.clear();
        notifyAll(); // wake_up_all: readBegin and remove wait for the sequence to change
    }

    /** __mmu_interval_notifier_insert's locked part (I-7). {@code sub}'s fields are set. */
    synchronized void insert(MmuIntervalNotifier sub) {
        if (active > 0) {
            if ((invalidateSeq & 1) != 0) {
                sub.onDeferred = true;     // a walk may be running: the tree is frozen
                deferred.add(sub);
            } else {                       // the active ones found no overlap: none is walking
                invalidateSeq = invalidateSeq | 1;
                sub.node = tree.insert(sub, sub.start, sub.last);
            }
            sub.invalidateSeq = invalidateSeq; // odd and current: readBegin waits for the end
        } else {
            sub.invalidateSeq = invalidateSeq - 1; // odd, not current
            sub.node = tree.insert(sub, sub.start, sub.last);
        }
    }

    /**
     * mmu_interval_notifier_remove's locked part (I-8).
     *
     * @return the sequence to wait past (the subscription is queued for removal behind a walk),
     *     or 0 if it is already out of the tree
     */
    synchronized long remove(MmuIntervalNotifier sub) {
        if ((invalidateSeq & 1) != 0) {
            if (sub.node == null) {        // its insert is still deferred: it never was in the tree
                removeIdentity(sub);
                sub.onDeferred = false;
                return 0;
            }
            sub.onDeferred = true;         // a walk may be calling it: remove after the last end
            deferred.add(sub);
            return invalidateSeq;
        }
        tree.remove(sub.node);
        sub.node = null;
        return 0;
    }

    /** Takes {@code sub} off the deferred list by identity (a driver's subclass may override equals). */
    private void removeIdentity(MmuIntervalNotifier sub) {
        for (int i = deferred.size() - 1; i >= 0; i--) {
            if (deferred.get(i) == sub) {
                deferred.remove(i);
                return;
            }
        }
        throw new AssertionError(sub + " is not on the deferred list");
    }

    /**
     * Waits until the sequence differs from {@code seq}, reading it under the monitor (the 5.18
     * fix, mmu_interval_seq_released), or, in the test-only legacy mode, without it. Not
     * interruptible (the kernel's {@code wait_event}); the interrupt status is kept.
     */
    void awaitSeqChange(long seq, boolean legacyUnlockedRead) {
        if (legacyUnlockedRead) {
            while (invalidateSeq == seq) { // pre-5.18: may see the new value before the deferred list is applied
                LockSupport.parkNanos(50_000);
            }
            return;
        }
        boolean interrupted = false;
        synchronized (this) {
            while (invalidateSeq == seq) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
