package org.mmunotifier.srcu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;

/**
 * Shared pieces of the SRCU litmus tests: the values the actors report, the object a reader
 * reaches, and one fixture per reader flavour.
 *
 * <p><b>Layout of this package (jcstress module).</b> One file per reader flavour holds that
 * flavour's litmus tests as nested classes, and a sibling file its deliberately broken variants;
 * the tests keep one set of scenario names ({@code ReadLockVsScan}, {@code ReadSectionVsReclaim},
 * {@code ScanVsReaderInAndOut}, {@code SynchronizeVsReadSection}, ...) so that the results tables
 * line up per flavour:
 *
 * <ul>
 *   <li>{@code StripedReaderLitmus} / {@code StripedReaderBrokenLitmus}: the two-RMW reader on the
 *       striped counters of {@link ReaderCounters} ({@link ReaderFlavour#TWO_RMW}: a whole
 *       domain built so, plus {@code downRead/upRead} in every domain). Fixture {@link Striped}.
 *   <li>{@code OneFenceReaderLitmus} / {@code OneFenceReaderBrokenLitmus}: the default reader of
 *       platform threads ({@link ReaderFlavour#ONE_FENCE}): per-thread slots in
 *       {@code Srcu.Reader}, a volatile store of the owner's lock count then a volatile read of
 *       {@code gpSeq}, and a release-store unlock. Fixture {@link OneFence}.
 *   <li>A later fence-free flavour (an opaque store in, a release store out, the updater paying
 *       with a process-wide {@code membarrier} in each scan) gets {@code FenceFreeReaderLitmus} /
 *       {@code FenceFreeReaderBrokenLitmus}, its fixture another subclass of {@link Domain} next
 *       to {@link OneFence} (whose slot and {@code gpSeq} helpers it can share).
 * </ul>
 *
 * <p>Every test runs on a domain of its own (a fresh state per trial), with the reader on index 0
 * (a fresh domain's {@code ctrIdx}), so the scan of index 0 is the one that must count it.
 */
final class Litmus {
    private Litmus() {
    }

    /** The reader found nothing: the updater had already unpublished the object. */
    static final int NONE = 0;
    /** The reader saw the old (still published, not yet reclaimed) object or value. */
    static final int OLD = 1;
    /** The reader saw the value the updater wrote before its scan (the unpublish). */
    static final int NEW = 2;
    /** The reader read the object's state after the updater reclaimed it: a use after free. */
    static final int RECLAIMED = 3;

    /** The object readers reach through a published reference; reclaiming it changes its state. */
    static final class Obj {
        int state = OLD; // plain: readers and the reclaim need no ordering of their own

        /** What a reader that reached {@code p} (or null) reports. */
        static int seen(Obj p) {
            return p == null ? NONE : p.state;
        }
    }

    /** @return 1 if a scan that answered {@code gone} counted a reader on its index, else 0 */
    static int counted(boolean gone) {
        return gone ? 0 : 1;
    }

    /**
     * What every flavour's fixture shares: a domain of its own, built with a given reader flavour
     * over counters held at hand (through {@code Srcu}'s package-private constructor that takes
     * them), so that a test can run the real scan ({@link ReaderCounters#readersGone}) without a
     * whole grace period, and {@link #forget()}.
     */
    abstract static class Domain {
        final ReaderCounters counters;
        final Srcu srcu;
        private final ThreadLocal<?> readers;

        Domain(ReaderCounters counters, ReaderFlavour flavour) {
            this.counters = counters;
            this.srcu = new Srcu(Srcu.builder("litmus").readerFlavour(flavour), counters);
            if (srcu.flavour().flavour() != flavour) {
                throw new IllegalStateException("asked for a " + flavour + " domain, got " + srcu.flavour()
                        + ": update Litmus." + getClass().getSimpleName());
            }
            try {
                this.readers = (ThreadLocal<?>) READERS.get(srcu);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }

        /**
         * Drops the calling thread's read-side entry for this domain; every actor that touched the
         * domain's read side (or {@code synchronize}, which looks its entry up) calls it last,
         * after the accesses under test.
         *
         * <p>Why: {@code Srcu}'s per-thread entry (a {@code Srcu.Reader}, in either flavour)
         * refers to its domain, and the domain to the {@code ThreadLocal} that keys the entry, so
         * the entry's weak key never clears while the thread lives: every domain a long-lived
         * thread has read stays reachable from that thread (about 1.3 KB each). Harmless for the
         * long-lived domains of real use; a jcstress run makes a domain per trial on the same few
         * threads and ran out of heap. The field is private and this module must not change the
         * srcu module, hence reflection.
         */
        void forget() {
            readers.remove();
        }
    }

    /**
     * The two-RMW flavour: a domain built with {@link ReaderFlavour#TWO_RMW}, so that
     * {@code readLock/readUnlock} count on the stripes (since the one-fence reader became the
     * default, a domain built without the option gives platform threads slots instead), plus the
     * raw striped counters for the broken variants.
     */
    static final class Striped extends Domain {
        /** A domain with the default number of stripes, as {@code new Srcu(name)} makes. */
        Striped() {
            this(new ReaderCounters());
        }

        Striped(ReaderCounters counters) {
            super(counters, ReaderFlavour.TWO_RMW);
        }

        /**
         * The counters' backing array, for the broken variants that bypass {@link ReaderCounters}'
         * read-modify-writes ({@code counts} is private; this module reaches it by reflection,
         * since it must not change the srcu module; {@link #checkLayout} pins the slot layout).
         */
        long[] raw() {
            return raw(counters);
        }

        /** The slot of {@code lock[stripe][idx]} in {@link #raw()}. */
        static int lockSlot(int stripe, int idx) {
            return (stripe + 1) * STRIPE_LONGS + idx;
        }

        /** The slot of {@code unlock[stripe][idx]} in {@link #raw()}. */
        static int unlockSlot(int stripe, int idx) {
            return (stripe + 1) * STRIPE_LONGS + 2 + idx;
        }

        private static final int STRIPE_LONGS = 16;
        private static final Field COUNTS;

        static {
            try {
                COUNTS = ReaderCounters.class.getDeclaredField("counts");
                COUNTS.setAccessible(true);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
            checkLayout();
        }

        private static long[] raw(ReaderCounters c) {
            try {
                return (long[]) COUNTS.get(c);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }

        /**
         * Fails the class's initialization (and so every test that uses raw slots) if
         * {@link ReaderCounters} no longer keeps its counters where {@link #lockSlot} and
         * {@link #unlockSlot} say.
         */
        private static void checkLayout() {
            ReaderCounters c = new ReaderCounters(4);
            long[] a = raw(c);
            c.lock(2, 1);
            c.unlock(3, 0);
            c.unlock(3, 0);
            long total = 0;
            for (long v : a) {
                total += v;
            }
            if (a[lockSlot(2, 1)] != 1 || a[unlockSlot(3, 0)] != 2 || total != 3) {
                throw new IllegalStateException("ReaderCounters' slot layout changed: update Litmus.Striped");
            }
        }
    }

    /**
     * The one-fence flavour: a domain built with {@link ReaderFlavour#ONE_FENCE} (the default), in
     * which every platform thread's {@code Srcu.Reader} is also its slot. Besides the domain it
     * gives the tests what {@code Srcu} keeps private: the grace period's opening RMW on
     * {@code gpSeq} ("g0" of docs/srcu.md), the volatile reads of {@code gpSeq} and
     * {@code ctrIdx}, readers made and registered by the state's constructor (so that a reader is
     * inside before the actors start), and the broken access modes of the slot counters.
     *
     * <p><b>Registry hygiene.</b> A domain's registry drops a slot only once its owner thread has
     * died, and jcstress's actor threads live for the whole run. Each state therefore builds its
     * own domain, whose registry holds only the slots of that trial (at most one per actor, plus
     * those the constructor made) and goes with it; {@link #forget()} checks that bound, so a
     * test that reused a domain across trials would fail loudly instead of slowing every scan.
     */
    static final class OneFence extends Domain {
        /** More slots than any trial registers: two actors and two constructor-made readers. */
        static final int MAX_SLOTS = 4;

        OneFence() {
            this(new ReaderCounters());
        }

        OneFence(ReaderCounters counters) {
            super(counters, ReaderFlavour.ONE_FENCE);
        }

        @Override
        void forget() {
            super.forget();
            int n = srcu.registeredSlots();
            if (n > MAX_SLOTS) {
                throw new IllegalStateException(n + " slots registered in one trial's domain (at most "
                        + MAX_SLOTS + " expected): slots are accumulating across trials");
            }
        }

        /**
         * g0: {@code Srcu.runGracePeriod}'s opening {@code getAndAdd(1)} on {@code gpSeq}, the
         * updater's half of the store-buffering pair with a slot reader's lock store and
         * {@code gpSeq} read. (The real grace period also prunes dead slots, then scans and waits;
         * the tests that need one whole call {@link Srcu#synchronize()}.)
         */
        void openGracePeriod() {
            GP_SEQ.getAndAdd(srcu, 1L);
        }

        /** r2': the volatile read of {@code gpSeq} that {@code Srcu.lock} makes after its lock store. */
        long readGpSeq() {
            return (long) GP_SEQ.getVolatile(srcu);
        }

        /** r1: the volatile read of {@code ctrIdx} that {@code Srcu.lock} starts with, as an index. */
        int readIndex() {
            return (int) CTR_IDX.getVolatile(srcu) & 1;
        }

        /**
         * A slotted {@code Srcu.Reader} owned by the calling thread, made and registered as
         * {@code Srcu.newReader} does, but not entered in the domain's {@code ThreadLocal} (so
         * there is nothing to {@link #forget()}). For a reader that the state's constructor sets
         * up and an actor then drives through the slot's own {@code countIn}/{@code countOut},
         * the statements {@code Srcu.lock}/{@code unlock} run after their checks (the public
         * {@code lock()}/{@code unlock(int)} would refuse the actor's thread, which is not the
         * owner; the counts have one writer at a time either way).
         */
        Srcu.Reader registeredReader() {
            Srcu.Reader r = new Srcu.Reader(srcu, Thread.currentThread(), counters.assignStripe(), true);
            if (!r.slotted || r.flavour() != ReaderFlavour.ONE_FENCE) {
                throw new IllegalStateException("Srcu.Reader's constructor no longer makes a slot reader");
            }
            counters.register(r);
            return r;
        }

        /** {@link #registeredReader()}, already counted in on {@code idx}: a reader inside. */
        Srcu.Reader readerInside(int idx) {
            Srcu.Reader r = registeredReader();
            r.countIn(idx);
            return r;
        }

        /**
         * BROKEN: the lock count stored opaque (atomic, never elided, but unordered with the
         * owner's later loads) instead of {@code setVolatile}: the reader entry without its fence.
         */
        static void countInOpaque(ReaderCounters.Slot s, int idx) {
            VarHandle h = idx == 0 ? LOCK0 : LOCK1;
            h.setOpaque(s, (long) h.getOpaque(s) + 1);
        }

        /** BROKEN: the unlock count stored plainly instead of with {@code setRelease}. */
        static void countOutPlain(ReaderCounters.Slot s, int idx) {
            if (idx == 0) {
                s.unlock0 = s.unlock0 + 1;
            } else {
                s.unlock1 = s.unlock1 + 1;
            }
        }

        private static final VarHandle GP_SEQ;
        private static final VarHandle CTR_IDX;
        private static final VarHandle LOCK0;
        private static final VarHandle LOCK1;

        static {
            try {
                MethodHandles.Lookup srcuLookup = MethodHandles.privateLookupIn(Srcu.class, MethodHandles.lookup());
                GP_SEQ = srcuLookup.findVarHandle(Srcu.class, "gpSeq", long.class);
                CTR_IDX = srcuLookup.findVarHandle(Srcu.class, "ctrIdx", int.class);
                LOCK0 = MethodHandles.lookup().findVarHandle(ReaderCounters.SlotCounts.class, "lock0", long.class);
                LOCK1 = MethodHandles.lookup().findVarHandle(ReaderCounters.SlotCounts.class, "lock1", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(new IllegalStateException(
                        "Srcu's gpSeq/ctrIdx or ReaderCounters.SlotCounts' fields changed: update Litmus.OneFence", e));
            }
            checkLayout();
        }

        /**
         * Fails the class's initialization (and so every test that uses this fixture) if the
         * helpers above no longer act on the counters and sequence that the real code uses.
         */
        private static void checkLayout() {
            OneFence d = new OneFence();
            Srcu.Reader r = d.readerInside(1);
            countInOpaque(r, 0);
            countOutPlain(r, 0);
            long gp = d.readGpSeq();
            d.openGracePeriod();
            if (r.lockVolatile(0) != 1 || r.unlockAcquire(0) != 1 || r.lockVolatile(1) != 1 || r.openOn(1) != 1
                    || d.counters.lockSum(0) != 1 || d.counters.unlockSum(0) != 1
                    || d.readGpSeq() != gp + 1 || d.srcu.gracePeriodsCompleted() != 0 || d.readIndex() != 0) {
                throw new IllegalStateException("the slot counters or gpSeq moved: update Litmus.OneFence");
            }
        }
    }

    private static final Field READERS;

    static {
        try {
            READERS = Srcu.class.getDeclaredField("readers");
            READERS.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Access modes on a long[] element, for the broken variants' raw counter updates. */
    static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
}
