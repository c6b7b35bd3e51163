package org.mmunotifier.srcu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The read-side state of one SRCU domain: the per-thread slots of the one-fence reader, the
 * per-stripe lock and unlock counters of the two-RMW reader, and the scan that decides whether
 * the readers of one index are gone.
 *
 * <pre>
 * Layout of {@code counts} (one stripe = 16 longs = 128 bytes, so two stripes never share a
 * cache line or an adjacent-line prefetch pair):
 *
 *   [ padding: 16 longs ][ stripe 0 ][ stripe 1 ] ... [ stripe S-1 ][ padding: 16 longs ]
 *
 *   stripe k, relative offset:  0: lock[0]   1: lock[1]   2: unlock[0]   3: unlock[1]   4..15: unused
 *
 * Registry of slots (an immutable snapshot behind one volatile reference):
 *
 *   slots:   the Slot of every registered platform thread not yet found dead
 *   retired: lock[0] lock[1] unlock[0] unlock[1] summed over the slots of dead threads
 * </pre>
 *
 * <p>Every counter only ever grows (64 bits: no wrap analysis needed). A reader that locked on
 * stripe {@code s} may unlock on any stripe; only the sums over all stripes mean anything, as in
 * Linux's {@code srcu_readers_active_idx_check()}. A slot is counted in and out by its owner
 * alone, so each slot's unlock count never exceeds its lock count.
 *
 * <p>Guards: the striped counters are written only by {@link #lock} and {@link #unlock} (volatile
 * RMW) and by the scan's {@code getAndAdd(0)}; they need no lock. A slot's four counters are
 * written by its owner thread only (Slot's methods say which access mode). {@link #registry} is
 * written only while holding {@link #registryLock}; the snapshot it points to is never modified,
 * so it is read without the lock. Stripes are handed out round robin when a thread first reads,
 * so two threads share a stripe only when there are more reading threads than stripes (correct
 * either way, merely slower).
 *
 * <p>Not final: the negative-control tests subclass it with a deliberately broken scan or
 * registry.
 */
class ReaderCounters {

    private static final int PAD = 16;
    private static final int LOCK = 0;
    private static final int UNLOCK = 2;
    private static final int MAX_STRIPES = 256;

    private final long[] counts;
    private final int mask;
    private final AtomicInteger nextStripe = new AtomicInteger();
    /** Serializes the writers of {@link #registry}: registration and pruning. */
    private final Object registryLock = new Object();
    /** The slots and the dead threads' counts; written under registryLock, read anywhere. */
    private volatile Registry registry = Registry.EMPTY;

    ReaderCounters() {
        this(defaultStripes());
    }

    ReaderCounters(int stripes) {
        if (stripes <= 0 || Integer.bitCount(stripes) != 1 || stripes > MAX_STRIPES) {
            throw new IllegalArgumentException("stripes must be a power of two in [1, " + MAX_STRIPES
                    + "], got " + stripes);
        }
        this.mask = stripes - 1;
        this.counts = new long[(stripes + 2) * PAD];
    }

    /** nextPow2(2 x CPUs), capped: enough that two running readers rarely share a line. */
    static int defaultStripes() {
        int cpus = Runtime.getRuntime().availableProcessors();
        int want = Math.max(2, 2 * cpus);
        int pow2 = Integer.highestOneBit(want - 1) << 1;
        return Math.min(MAX_STRIPES, Math.max(2, pow2));
    }

    int stripes() {
        return mask + 1;
    }

    /** A stripe for a newly seen reading thread. */
    int assignStripe() {
        return nextStripe.getAndIncrement() & mask;
    }

    private static int slot(int stripe, int kind, int idx) {
        return (stripe + 1) * PAD + kind + idx;
    }

    /**
     * Counts a reader in. Volatile RMW: it is the reader's half of the store-buffering pair with
     * {@link #readersGone}'s {@code getAndAdd(0)} on the same counter (docs/srcu.md,
     * "Memory-ordering argument", the case where this lock comes after the scan's RMW).
     */
    final void lock(int stripe, int idx) {
        COUNTS.getAndAdd(counts, slot(stripe, LOCK, idx), 1L);
    }

    /**
     * Counts a reader out. Volatile RMW: every access of the read section happens-before it, and
     * it synchronizes-with the scan's volatile read of this counter (docs/srcu.md,
     * "Memory-ordering argument", the case where the reader's lock comes before the scan).
     */
    final void unlock(int stripe, int idx) {
        COUNTS.getAndAdd(counts, slot(stripe, UNLOCK, idx), 1L);
    }

    /**
     * True when every reader counted in on {@code idx} before this scan has also been counted out.
     *
     * <p>Order matters: unlocks are summed first, then locks. A counted unlock implies an earlier
     * lock, and because the lock sums are read later, that lock is counted too; so equal sums
     * cannot be faked by seeing an unlock without its lock. For a slot: the acquire read that sees
     * the owner's n-th unlock sees every lock the owner made before it, so the later volatile read
     * of the slot's lock count returns at least that many. For the stripes: the lock counters are
     * read with {@code getAndAdd(0)}, a volatile write: a reader whose lock RMW comes later in the
     * synchronization order synchronizes-with it and so sees everything the updater did before the
     * scan. A slot reader's lock store needs no such write: it pairs with the grace period's
     * opening RMW on gpSeq instead (docs/srcu.md, "Memory-ordering argument").
     *
     * <p>Both sums use one snapshot of the registry, so a slot pruned meanwhile is counted once.
     */
    boolean readersGone(int idx) {
        Registry reg = registry;
        long unlocks = reg.retired[UNLOCK + idx] + stripedSum(UNLOCK, idx) + reg.slotUnlocks(idx);
        betweenSums();
        VarHandle.fullFence(); // The kernel's smp_mb() "A"; pairs with the stripe readers' RMW "B".
        long locks = reg.retired[LOCK + idx];
        for (int s = 0; s <= mask; s++) {
            locks += (long) COUNTS.getAndAdd(counts, slot(s, LOCK, idx), 0L);
        }
        locks += reg.slotLocks(idx);
        return locks == unlocks;
    }

    /** Sum of the lock counts of {@code idx}, slots included; for diagnostics and tests. */
    final long lockSum(int idx) {
        Registry reg = registry;
        return reg.retired[LOCK + idx] + stripedSum(LOCK, idx) + reg.slotLocks(idx);
    }

    /** Sum of the unlock counts of {@code idx}, slots included; for diagnostics and tests. */
    final long unlockSum(int idx) {
        Registry reg = registry;
        return reg.retired[UNLOCK + idx] + stripedSum(UNLOCK, idx) + reg.slotUnlocks(idx);
    }

    /** Test hook: runs between the two sums of a scan, so a test can place a racing reader there. */
    void betweenSums() {
    }

    private long stripedSum(int kind, int idx) {
        long total = 0;
        for (int s = 0; s <= mask; s++) {
            total += (long) COUNTS.getVolatile(counts, slot(s, kind, idx));
        }
        return total;
    }

    /**
     * Readers currently inside a read section on either index: a racy estimate, exact when no
     * reader enters or leaves during the call. Used for diagnostics and {@code close()}. A thread
     * that died inside a section still counts (its slot's counts are folded, not dropped).
     */
    final long activeReaders() {
        Registry reg = registry;
        long active = 0;
        for (int idx = 0; idx < 2; idx++) {
            long unlocks = reg.retired[UNLOCK + idx] + stripedSum(UNLOCK, idx) + reg.slotUnlocks(idx);
            long locks = reg.retired[LOCK + idx] + stripedSum(LOCK, idx) + reg.slotLocks(idx);
            active += locks - unlocks;
        }
        return active;
    }

    // ------------------------------------------------------------------ slot registry

    /**
     * Adds the calling thread's new slot, after pruning the slots of dead threads. Called by the
     * owner before its first count; the volatile write of {@link #registry} therefore precedes
     * every count the slot will hold, and every scan that reads the registry later sees the slot.
     */
    final void register(Slot slot) {
        synchronized (registryLock) {
            Registry pruned = prune(registry);
            Slot[] slots = Arrays.copyOf(pruned.slots, pruned.slots.length + 1);
            slots[slots.length - 1] = slot;
            registry = new Registry(slots, pruned.retired);
        }
    }

    /**
     * Folds the slots of threads that have terminated into the retired counts and drops them, so
     * that the scan stays proportional to the live reading threads. Called once per grace period
     * (by its driver) and on every registration.
     */
    final void pruneDeadSlots() {
        synchronized (registryLock) {
            Registry current = registry;
            Registry pruned = prune(current);
            if (pruned != current) {
                registry = pruned;
            }
        }
    }

    /** Caller holds registryLock. Returns {@code reg} itself when no owner has terminated. */
    private Registry prune(Registry reg) {
        Slot[] kept = null;
        long[] retired = null;
        int n = 0;
        for (int i = 0; i < reg.slots.length; i++) {
            Slot s = reg.slots[i];
            if (!ownerTerminated(s)) {
                if (kept != null) {
                    kept[n++] = s;
                }
                continue;
            }
            if (kept == null) { // first dead slot: start the copy
                kept = Arrays.copyOf(reg.slots, reg.slots.length);
                n = i;
                retired = reg.retired.clone();
            }
            // The owner has terminated: its last action happens-before isAlive() returned false
            // (JLS 17.4.4), so these plain reads see its final counts.
            if (foldsRetiredCounts()) {
                retired[LOCK] += s.lock0;
                retired[LOCK + 1] += s.lock1;
                retired[UNLOCK] += s.unlock0;
                retired[UNLOCK + 1] += s.unlock1;
            }
        }
        return kept == null ? reg : new Registry(Arrays.copyOf(kept, n), retired);
    }

    /**
     * Whether the slot's owner has terminated, so that its counts are final. Negative controls
     * override it with a check that is wrong.
     */
    boolean ownerTerminated(Slot s) {
        return !s.owner.isAlive();
    }

    /** Whether pruning keeps a dead thread's counts; false only in a negative control. */
    boolean foldsRetiredCounts() {
        return true;
    }

    /** @return the number of registered slots (live reading threads, plus dead ones not yet pruned) */
    final int registeredSlots() {
        return registry.slots.length;
    }

    /** An immutable snapshot of the registry. */
    private static final class Registry {
        static final Registry EMPTY = new Registry(new Slot[0], new long[4]);

        final Slot[] slots;
        /** Indexed like a stripe: LOCK + idx, UNLOCK + idx. */
        final long[] retired;

        Registry(Slot[] slots, long[] retired) {
            this.slots = slots;
            this.retired = retired;
        }

        long slotLocks(int idx) {
            long total = 0;
            for (Slot s : slots) {
                total += s.lockVolatile(idx);
            }
            return total;
        }

        long slotUnlocks(int idx) {
            long total = 0;
            for (Slot s : slots) {
                total += s.unlockAcquire(idx);
            }
            return total;
        }
    }

    // ------------------------------------------------------------------ the one-fence reader's slot

    /** 128 bytes before the counters: no other object's hot field shares their cache lines. */
    abstract static class SlotPadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    /** The four counters of one thread's slot (Linux's per-CPU {@code srcu_lock_count}/{@code srcu_unlock_count}). */
    abstract static class SlotCounts extends SlotPadBefore {
        long lock0;
        long lock1;
        long unlock0;
        long unlock1;
    }

    /** 128 bytes after the counters. */
    abstract static class SlotPadAfter extends SlotCounts {
        long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    }

    /**
     * One platform thread's counters for one domain (the superclass of {@link Srcu.Reader}).
     *
     * <p>Guards: the four counters are written by {@link #owner} only, with the access modes of
     * {@link #countIn} (volatile) and {@link #countOut} (release); the owner reads them plainly
     * (it wrote them), other threads with {@link #lockVolatile} and {@link #unlockAcquire}, or
     * plainly once the owner has terminated.
     */
    abstract static class Slot extends SlotPadAfter {
        /** The thread that owns this slot; the only writer of its counters. */
        final Thread owner;

        Slot(Thread owner) {
            this.owner = owner;
        }

        /**
         * Counts the owner in on {@code idx}: a single-writer volatile store, which is the reader's
         * full fence (on x86 a plain store and one locked add). Owner only.
         */
        final void countIn(int idx) {
            if (idx == 0) {
                LOCK0.setVolatile(this, lock0 + 1);
            } else {
                LOCK1.setVolatile(this, lock1 + 1);
            }
        }

        /**
         * Counts the owner in on {@code idx} with an opaque store and no fence: the fence-free
         * reader, whose updater issues a membarrier before it reads the slot. HotSpot keeps an
         * opaque access in program order with every other memory access of the thread (C2 brackets
         * it with {@code MemBarCPUOrder}; C1 and the interpreter run it as a volatile store): see
         * docs/srcu.md. Owner only.
         */
        final void countInOpaque(int idx) {
            if (idx == 0) {
                LOCK0.setOpaque(this, lock0 + 1);
            } else {
                LOCK1.setOpaque(this, lock1 + 1);
            }
        }

        /**
         * Counts the owner out of {@code idx}: a release store, no fence. Everything the section
         * did happens-before a scan's acquire read that sees it. Owner only.
         */
        final void countOut(int idx) {
            if (idx == 0) {
                UNLOCK0.setRelease(this, unlock0 + 1);
            } else {
                UNLOCK1.setRelease(this, unlock1 + 1);
            }
        }

        /** Sections the owner holds open on {@code idx}. Owner only. */
        final long openOn(int idx) {
            return idx == 0 ? lock0 - unlock0 : lock1 - unlock1;
        }

        final long lockVolatile(int idx) {
            return idx == 0 ? (long) LOCK0.getVolatile(this) : (long) LOCK1.getVolatile(this);
        }

        final long unlockAcquire(int idx) {
            return idx == 0 ? (long) UNLOCK0.getAcquire(this) : (long) UNLOCK1.getAcquire(this);
        }

        private static final VarHandle LOCK0;
        private static final VarHandle LOCK1;
        private static final VarHandle UNLOCK0;
        private static final VarHandle UNLOCK1;

        static {
            try {
                MethodHandles.Lookup l = MethodHandles.lookup();
                LOCK0 = l.findVarHandle(SlotCounts.class, "lock0", long.class);
                LOCK1 = l.findVarHandle(SlotCounts.class, "lock1", long.class);
                UNLOCK0 = l.findVarHandle(SlotCounts.class, "unlock0", long.class);
                UNLOCK1 = l.findVarHandle(SlotCounts.class, "unlock1", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }
    }

    // VarHandle mechanics
    private static final VarHandle COUNTS = MethodHandles.arrayElementVarHandle(long[].class);
}
