package org.mmunotifier.mm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.mmunotifier.srcu.ExecutionContext;

/**
 * A subscription to the invalidations of one interval of an address space (Linux
 * {@code struct mmu_interval_notifier}, 5.5+, 99cb252f5e68, with the remove fix of 5.18,
 * 319561669a59): only invalidations that overlap {@code [start(), last()]} call its
 * {@link MmuIntervalNotifierOps#invalidate}. Drivers may subclass it; it has no static API
 * (insert with {@link MmuNotifiers#insertInterval}).
 *
 * <p><b>The sequence protocol.</b> A driver's fault path mirrors part of the interval without
 * holding any lock shared with the core:
 * <pre>{@code
 * while (true) {
 *     long seq = sub.readBegin();                 // waits while an invalidation of sub runs
 *     Pages p = faultAndSnapshot(mm, start, end); // under the mmap read lock; no user lock
 *     userLock.lock();
 *     try {
 *         if (sub.readRetry(seq)) {
 *             continue;                           // an invalidation ran meanwhile: again
 *         }
 *         installDeviceMappings(p);               // safe: invalidate needs userLock to setSeq
 *         break;
 *     } finally {
 *         userLock.unlock();
 *     }
 * }
 * }</pre>
 * The callback calls {@link #setSeq} under the same user lock; so once {@code readRetry}
 * returned false under it, no invalidation of the interval has begun since {@code readBegin},
 * and any that begins later has to wait for the lock before it can zap what is installed.
 *
 * <p><b>Lifetime.</b> {@link MmuNotifiers#insertInterval} takes a reference to the mm's
 * structure ({@code mmgrab}); {@link #remove()} waits until no callback on the subscription is
 * running or can start, then drops it. Remove every inserted subscription, also after the mm has
 * exited. A removed object may be inserted again.
 *
 * <p><b>Threads:</b> every method may be called from any thread; {@link #readBegin()} and
 * {@link #remove()} block, and no method here but {@link #setSeq}, {@link #readRetry},
 * {@link #checkRetry} and the accessors may be called from a notifier callback.
 */
public class MmuIntervalNotifier {
    /*
     * Guards
     * ------
     *   state            CAS (VarHandle STATE): NEW/REMOVED -> INSERTING (the insert's claim)
     *                    -> INSERTED -> REMOVING (remove's claim) -> REMOVED; a failed insert
     *                    goes back to what it claimed from
     *   ops, mm, itree,  written by the insert that claimed the object, before it is published
     *   start, last      by Itree.insert (monitor); then read-only until the next insert, which
     *                    needs REMOVED, i.e. after remove has waited out every walk. Exception:
     *                    remove clears itree after its wait; readBegin's fast path reads it
     *                    without synchronization (a reference: no tearing; a stale non-null only
     *                    skips the not-inserted check of a misused readBegin, a stale null only
     *                    sends it to the slow path)
     *   invalidateSeq    volatile: written by Itree.insert (monitor) and by setSeq (the driver's
     *                    user lock); read by readBegin (monitor), readRetry (user lock),
     *                    checkRetry (no lock: a hint)
     *   node, onDeferred the Itree monitor (see Itree)
     */
    static final int NEW = 0;
    static final int INSERTING = 1;
    static final int INSERTED = 2;
    static final int REMOVING = 3;
    static final int REMOVED = 4;

    @SuppressWarnings("unused") // accessed through STATE
    private volatile int state;

    MmuIntervalNotifierOps ops;
    volatile MmStruct mm;
    Itree itree;
    long start;
    long last;
    volatile long invalidateSeq;
    IntervalTree.Node<MmuIntervalNotifier> node;
    boolean onDeferred;

    /** A subscription to insert with {@link MmuNotifiers#insertInterval(MmuIntervalNotifier, MmStruct, long, long, MmuIntervalNotifierOps)}. */
    public MmuIntervalNotifier() {
    }

    /** @return the callback, or null before the first insert */
    public final MmuIntervalNotifierOps ops() {
        return ops;
    }

    /**
     * The address space of the last insert. Its structure stays valid ({@code count} held) from
     * the insert until {@link #remove()} returns; use {@link MmStruct#mmgetNotZero()} to make it
     * active.
     *
     * @return the mm, or null if never inserted
     */
    public final MmStruct mm() {
        return mm;
    }

    /** @return the first address of the interval (0 if never inserted) */
    public final long start() {
        return start;
    }

    /** @return the last address of the interval, inclusive (unsigned; 0 if never inserted) */
    public final long last() {
        return last;
    }

    /**
     * Begins a read of the interval's primary mappings (Linux {@code mmu_interval_read_begin}):
     * if an invalidation that calls this subscription is in progress, waits until the mm's
     * invalidations are over (its sequence has changed), once, without looping: the result may
     * already need a retry, which {@link #readRetry} tells.
     *
     * <p><b>Context:</b> may block; not from any notifier callback (the kernel's lockdep map makes
     * it count as an invalidation start there: a callback of this subscription would wait for
     * itself). The port refuses it there whenever it would have to wait; a call that need not
     * wait costs two loads and is not checked. Waits uninterruptibly; the interrupt status is
     * kept.
     * <p><b>Pairing:</b> pass the result to {@link #readRetry} under the user lock.
     * <p><b>Memory consistency effects:</b> the invalidations that ended before this returned
     * happen-before its return.
     *
     * @return the sequence to pass to {@link #readRetry} (always odd)
     * @throws IllegalStateException if the subscription is not inserted, or from a callback
     *     while it would wait; nothing changes
     */
    public final long readBegin() {
        // Fast path, without the lock (the kernel reads both sequences under it) and without the
        // context checks: two volatile loads and a plain one. It answers as the locked read would.
        // The mm's sequence never decreases, and a subscription's sequence is always a value the
        // mm's had (setSeq's curSeq, or insert's) or one below it: so once the mm's differs from
        // the value read here, it stays different from it. "Different" seen here was true at any
        // later moment a lock could have been taken, or became true after an equal moment, which
        // is what the locked read would have waited for; either way it returns this same value.
        Itree it = itree;                          // null: never inserted, or removed (slow path throws)
        if (it != null) {
            long seq = invalidateSeq;              // first the subscription's...
            if (it.invalidateSeq != seq) {         // ...then the mm's (volatile: in this order)
                return seq;
            }
        }
        return readBeginWait();
    }

    /** readBegin when the subscription may be under invalidation: checks, then the locked read and wait. */
    private long readBeginWait() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.mightSleep("MmuIntervalNotifier.readBegin");
        if (ctx.depth() != 0) {
            throw new IllegalStateException("MmuIntervalNotifier.readBegin called from " + ctx.describeInnermost()
                    + ": it waits for the invalidations of the mm, which may include the one running this "
                    + "callback (the kernel's lockdep map reports it); nothing changed");
        }
        Itree it = insertedItree("readBegin");
        long seq;
        boolean interrupted = false;
        synchronized (it) {
            seq = invalidateSeq; // read under the lock: pairs with setSeq of a callback that ran in a walk
            // Equal to the mm's (odd) sequence: an invalidation that calls this subscription is in
            // progress. Wait for the sequence to move on, then return the value read above
            // (not a fresh one: no loop, the caller retries if needed).
            while (it.invalidateSeq == seq) {
                try {
                    it.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return seq;
    }

    /**
     * Whether the mapping read since {@code readBegin} returned {@code seq} must be redone
     * (Linux {@code mmu_interval_read_retry}): true if an invalidation of this subscription has
     * called {@link #setSeq} since.
     *
     * <p><b>Locking:</b> call it holding the lock that {@link MmuIntervalNotifierOps#invalidate}
     * holds around {@link #setSeq} (the user lock), and keep holding it while installing the
     * mappings: only then does false mean that no invalidation can zap them before they are
     * installed. <b>This method cannot check that lock</b>: it knows nothing of it, and a call
     * without it gives an answer that may be stale at once.
     * <p><b>Context:</b> never blocks.
     *
     * @param seq a value returned by {@link #readBegin()} (odd)
     * @return true if the read must be retried
     * @throws IllegalArgumentException if {@code seq} is even (no value of {@code readBegin});
     *     nothing changes
     */
    public final boolean readRetry(long seq) {
        checkOdd("readRetry", seq);
        return invalidateSeq != seq;
    }

    /**
     * A lockless hint (Linux {@code mmu_interval_check_retry}): true if an invalidation has
     * called {@link #setSeq} since {@code readBegin} returned {@code seq}. Only a true answer is
     * reliable; false must still be confirmed by {@link #readRetry} under the user lock. Use it
     * to give up early on long work.
     *
     * <p><b>Context:</b> never blocks; needs no lock.
     *
     * @param seq a value returned by {@link #readBegin()} (odd)
     * @return true if the read will have to be retried
     * @throws IllegalArgumentException if {@code seq} is even; nothing changes
     */
    public final boolean checkRetry(long seq) {
        checkOdd("checkRetry", seq);
        return invalidateSeq != seq;
    }

    /**
     * Records that an invalidation is in progress (Linux {@code mmu_interval_set_seq}): the
     * callback calls it with its {@code curSeq}, under the user lock, so that a concurrent fault
     * path's {@link #readRetry} answers true.
     *
     * <p><b>Context:</b> only from {@link MmuIntervalNotifierOps#invalidate} of this
     * subscription, under the user lock (not checked: the library does not know that lock).
     * Never blocks.
     *
     * @param seq the {@code curSeq} the callback received (odd)
     * @throws IllegalArgumentException if {@code seq} is even; nothing changes
     */
    public final void setSeq(long seq) {
        checkOdd("setSeq", seq);
        invalidateSeq = seq;
    }

    /**
     * Removes the subscription (Linux {@code mmu_interval_notifier_remove}, with 5.18's fix):
     * takes it out of the mm's interval tree, or, while an invalidation may be calling it,
     * queues the removal for the end of the last invalidation and waits for it, reading the
     * mm's sequence under its lock; then drops the reference to the mm's structure. After the
     * return no callback on the subscription is running, and none will start: the object may be
     * reused or inserted again.
     *
     * <p><b>Context:</b> may block; not from any notifier callback (it would wait for the
     * invalidation running the callback). Waits uninterruptibly; the interrupt status is kept.
     * <p><b>Pairing:</b> one per successful insert; also after the mm has exited.
     * <p><b>Memory consistency effects:</b> actions of every callback on this subscription
     * happen-before the return.
     *
     * @throws IllegalStateException if the subscription is not inserted (never inserted, already
     *     removed, or being removed by another thread), or from a callback; nothing changes
     */
    public final void remove() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.mightSleep("MmuIntervalNotifier.remove");
        if (ctx.depth() != 0) {
            throw new IllegalStateException("MmuIntervalNotifier.remove called from " + ctx.describeInnermost()
                    + ": no notifier callback may insert or remove an interval subscription (remove waits for the "
                    + "invalidations in progress, which include the one running this callback); nothing changed");
        }
        if (!STATE.compareAndSet(this, INSERTED, REMOVING)) {
            throw new IllegalStateException("MmuIntervalNotifier.remove: " + this + " is "
                    + stateName((int) STATE.getVolatile(this)) + "; remove once per insert; nothing changed");
        }
        Itree it = itree;
        MmStruct m = mm;
        long seq = it.remove(this);
        if (seq != 0) {
            // 319561669a59: read the sequence under the lock, so that this cannot return while the
            // last end is still applying the deferred list (and this object is on it).
            it.awaitSeqChange(seq, Itree.legacyUnlockedRemoveWait);
        }
        itree = null; // readBegin's fast path falls through to the slow one, which refuses
        STATE.setVolatile(this, REMOVED);
        m.mmdrop(); // pairs with the mmgrab of the insert
    }

    /** @return whether the subscription is inserted (and not being removed); a racy snapshot */
    public final boolean isInserted() {
        return (int) STATE.getVolatile(this) == INSERTED;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(this)) + "[0x"
                + Long.toHexString(start) + "-0x" + Long.toHexString(last) + "]";
    }

    // ================================================================== package-private

    /** The insert's claim: NEW or REMOVED to INSERTING. */
    final boolean claimInsert() {
        return STATE.compareAndSet(this, NEW, INSERTING) || STATE.compareAndSet(this, REMOVED, INSERTING);
    }

    /** A failed insert gives the claim back (to REMOVED if it was inserted before, else NEW). */
    final void abandonInsert() {
        STATE.setVolatile(this, mm == null ? NEW : REMOVED);
    }

    final void inserted() {
        STATE.setVolatile(this, INSERTED);
    }

    final int state() {
        return (int) STATE.getVolatile(this);
    }

    static String stateName(int s) {
        return switch (s) {
            case NEW -> "not inserted";
            case INSERTING -> "being inserted";
            case INSERTED -> "inserted";
            case REMOVING -> "being removed";
            default -> "removed";
        };
    }

    private Itree insertedItree(String op) {
        int s = (int) STATE.getVolatile(this);
        if (s != INSERTED && s != REMOVING) {
            throw new IllegalStateException("MmuIntervalNotifier." + op + ": " + this + " is " + stateName(s)
                    + "; nothing changed");
        }
        return itree;
    }

    private static void checkOdd(String op, long seq) {
        if ((seq & 1) == 0) {
            throw new IllegalArgumentException("MmuIntervalNotifier." + op + "(" + seq + "): an interval "
                    + "sequence is always odd (use the value of readBegin, or the callback's curSeq)");
        }
    }

    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(MmuIntervalNotifier.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
