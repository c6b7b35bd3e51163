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
 *   <li>{@code FenceFreeReaderLitmus} / {@code FenceFreeReaderBrokenLitmus}: the fence-free
 *       reader ({@link ReaderFlavour#FENCE_FREE}, the default where it is available): the same
 *       slots, an opaque store in (no fence, no {@code gpSeq} read), a release store out, and the
 *       updater paying with a process-wide {@code membarrier} before each scan. Fixture
 *       {@link FenceFree}. Run with JDK 25 and {@code --enable-native-access=ALL-UNNAMED}; the
 *       correct tests report a skip outcome before JDK 22.
 * </ul>
 *
 * <p>{@link OneFence} and {@link FenceFree} share {@link Slotted}: the slot registration, the
 * {@code gpSeq} and {@code ctrIdx} helpers and the per-trial registry check.
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
        /** The domain's read side ({@code Srcu.rs}): what its Readers refer to, and where gpSeq and ctrIdx live. */
        final Srcu.ReadSide readSide;
        private final ThreadLocal<?> readers;

        Domain(ReaderCounters counters, ReaderFlavour flavour) {
            this(counters, Srcu.builder("litmus").readerFlavour(flavour), flavour);
        }

        /** A domain from {@code builder} (which must ask for {@code flavour}) over {@code counters}. */
        Domain(ReaderCounters counters, Srcu.Builder builder, ReaderFlavour flavour) {
            this.counters = counters;
            this.srcu = new Srcu(builder, counters);
            if (srcu.flavour().flavour() != flavour) {
                throw new IllegalStateException("asked for a " + flavour + " domain, got " + srcu.flavour()
                        + ": update Litmus." + getClass().getSimpleName());
            }
            try {
                this.readers = (ThreadLocal<?>) READERS.get(srcu);
                this.readSide = (Srcu.ReadSide) READ_SIDE.get(srcu);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }

        /**
         * Drops the calling thread's read-side entry for this domain; every actor that touched the
         * domain's read side (or {@code synchronize}, which looks its entry up) calls it last,
         * after the accesses under test.
         *
         * <p>Why: a jcstress run makes a domain per trial on the same few long-lived threads, and
         * each trial would leave one entry in each actor thread's {@code ThreadLocal} map until
         * the collector clears its key and a later lookup expunges it. Removing it at once keeps
         * those maps small. (It was first written against a leak: the entry's value, a
         * {@code Srcu.Reader}, then referred to its domain and so to its own key, which never
         * cleared; a Reader now refers only to the domain's read side.) The field is private,
         * hence reflection.
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
     * What the slot flavours' fixtures share ({@link OneFence}, {@link FenceFree}): a domain in
     * which every platform thread's {@code Srcu.Reader} is also its slot, and what {@code Srcu}
     * keeps private: the grace period's opening RMW on {@code gpSeq} ("g0" of docs/srcu.md), the
     * volatile reads of {@code gpSeq} and {@code ctrIdx}, and readers made and registered by the
     * state's constructor (so that a reader is inside before the actors start).
     *
     * <p><b>Registry hygiene.</b> A domain's registry drops a slot only once its owner thread has
     * died, and jcstress's actor threads live for the whole run. Each state therefore builds its
     * own domain, whose registry holds only the slots of that trial (at most one per actor, plus
     * those the constructor made) and goes with it; {@link #forget()} checks that bound, so a
     * test that reused a domain across trials would fail loudly instead of slowing every scan.
     */
    abstract static class Slotted extends Domain {
        /** More slots than any trial registers: two actors and two constructor-made readers. */
        static final int MAX_SLOTS = 4;

        private final ReaderFlavour flavour;

        Slotted(ReaderCounters counters, Srcu.Builder builder, ReaderFlavour flavour) {
            super(counters, builder, flavour);
            this.flavour = flavour;
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
         * updater's half of the store-buffering pair with a one-fence reader's lock store and
         * {@code gpSeq} read (a fence-free reader reads no {@code gpSeq}; for it g0 is only the
         * statement the real grace period starts with). The real grace period also prunes dead
         * slots, then scans and waits; the tests that need one whole call
         * {@link Srcu#synchronize()}.
         */
        void openGracePeriod() {
            GP_SEQ.getAndAdd(readSide, 1L);
        }

        /** r2': the volatile read of {@code gpSeq} that {@code Srcu.ReadSide.lock} makes after a one-fence lock store. */
        long readGpSeq() {
            return (long) GP_SEQ.getVolatile(readSide);
        }

        /** r1: the volatile read of {@code ctrIdx} that {@code Srcu.ReadSide.lock} starts with, as an index. */
        int readIndex() {
            return (int) CTR_IDX.getVolatile(readSide) & 1;
        }

        /**
         * A slotted {@code Srcu.Reader} owned by the calling thread, made and registered as
         * {@code Srcu.newReader} does, but not entered in the domain's {@code ThreadLocal} (so
         * there is nothing to {@link #forget()}). For a reader that the state's constructor sets
         * up and an actor then drives through the slot's own {@code countIn}/{@code countInOpaque}/
         * {@code countOut}, the statements {@code Srcu.ReadSide.lock}/{@code unlock} run after their checks
         * (the public {@code lock()}/{@code unlock(int)} would refuse the actor's thread, which is
         * not the owner; the counts have one writer at a time either way).
         */
        Srcu.Reader registeredReader() {
            Srcu.Reader r = new Srcu.Reader(readSide, Thread.currentThread(), counters.assignStripe(), true);
            if (!r.slotted || r.flavour() != flavour) {
                throw new IllegalStateException("Srcu.Reader's constructor no longer makes a " + flavour
                        + " slot reader: update Litmus." + getClass().getSimpleName());
            }
            counters.register(r);
            return r;
        }

        private static final VarHandle GP_SEQ;
        private static final VarHandle CTR_IDX;

        static {
            try {
                MethodHandles.Lookup lookup = MethodHandles.privateLookupIn(Srcu.ReadSide.class, MethodHandles.lookup());
                GP_SEQ = lookup.findVarHandle(Srcu.ReadSide.class, "gpSeq", long.class);
                CTR_IDX = lookup.findVarHandle(Srcu.ReadSide.class, "ctrIdx", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(new IllegalStateException(
                        "Srcu.ReadSide's gpSeq/ctrIdx changed: update Litmus.Slotted", e));
            }
        }
    }

    /**
     * The one-fence flavour: a domain built with {@link ReaderFlavour#ONE_FENCE}, in which every
     * platform thread's {@code Srcu.Reader} is also its slot, counted in with a volatile store.
     * Besides {@link Slotted}'s helpers it gives the tests a reader already inside and the broken
     * access modes of the slot counters.
     */
    static final class OneFence extends Slotted {
        OneFence() {
            this(new ReaderCounters());
        }

        OneFence(ReaderCounters counters) {
            super(counters, Srcu.builder("litmus").readerFlavour(ReaderFlavour.ONE_FENCE), ReaderFlavour.ONE_FENCE);
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

        private static final VarHandle LOCK0;
        private static final VarHandle LOCK1;

        static {
            try {
                LOCK0 = MethodHandles.lookup().findVarHandle(ReaderCounters.SlotCounts.class, "lock0", long.class);
                LOCK1 = MethodHandles.lookup().findVarHandle(ReaderCounters.SlotCounts.class, "lock1", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(new IllegalStateException(
                        "ReaderCounters.SlotCounts' fields changed: update Litmus.OneFence", e));
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

    /**
     * The fence-free flavour: a domain built with {@link ReaderFlavour#FENCE_FREE}, whose
     * platform threads count in on their slot with an opaque store (no fence, no {@code gpSeq}
     * read) and out with a release store, and whose every scan first issues the domain's heavy
     * barrier. {@link #scan(int)} is one attempt of {@code Srcu.waitForReaders} exactly: the
     * domain's own heavy barrier (read from its private field), then the real
     * {@link ReaderCounters#readersGone}.
     *
     * <p>Two kinds: {@link #withMembarrier()}, the public flavour (a domain as
     * {@code Srcu.builder(name).readerFlavour(FENCE_FREE)} builds it, over counters held at
     * hand), whose barrier is the real {@code membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)}; and,
     * for the broken variants, {@link #withoutMembarrier()}, the same reader and scan with a no-op
     * barrier (the package-private {@code Builder.fenceFreeWithBarrier}).
     *
     * <p><b>JDK.</b> The real flavour needs JDK 22+ on Linux (x86-64 or AArch64), HotSpot without
     * JVMCI, and native access: run these tests with JDK 25 and
     * {@code --enable-native-access=ALL-UNNAMED} in jcstress's {@code -jvmArgs}. Where it cannot
     * exist at all (before JDK 22, or another OS or architecture) {@link #SKIPPED} is true and the
     * tests of {@code FenceFreeReaderLitmus} report a skip outcome instead of running. Anywhere
     * else a missing condition (native access above all) is not a skip: building the domain
     * throws with {@code FenceFreeSupport}'s reason, and the test fails as an error, so a run
     * whose forked VMs lack the flag cannot pass unnoticed. The no-op kind runs on every JDK.
     */
    static final class FenceFree extends Slotted {
        /**
         * Why the real fence-free flavour cannot exist in this JVM (before JDK 22: no FFM API;
         * not Linux on x86-64 or AArch64: no membarrier number), or null where it can.
         */
        static final String SKIP_REASON = skipReason();
        /** Whether {@code FenceFreeReaderLitmus} reports a skip here; constant, so the JIT folds the actors' test. */
        static final boolean SKIPPED = SKIP_REASON != null;
        /** The value both results report when a test is {@link #SKIPPED}. */
        static final int SKIP = -1;

        /** The domain's heavy barrier: {@code Membarrier::barrier}, or a test's no-op. */
        private final Runnable heavyBarrier;

        private FenceFree(Srcu.Builder builder, boolean membarrier) {
            super(new ReaderCounters(), builder, ReaderFlavour.FENCE_FREE);
            boolean testBarrier = srcu.flavour().reason().contains("test's heavy barrier");
            if (testBarrier == membarrier) {
                throw new IllegalStateException("asked for a fence-free domain " + (membarrier ? "with" : "without")
                        + " the membarrier, got: " + srcu.flavour() + ": update Litmus.FenceFree");
            }
            try {
                this.heavyBarrier = (Runnable) HEAVY_BARRIER.get(srcu);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
            if (heavyBarrier == null) {
                throw new IllegalStateException("a FENCE_FREE domain without a heavy barrier: update Litmus.FenceFree");
            }
        }

        /**
         * A FENCE_FREE domain with the real membarrier in every scan.
         *
         * @throws IllegalStateException if {@link #SKIPPED}, or if the flavour is unavailable
         *     here (the message gives {@code FenceFreeSupport}'s reason)
         */
        static FenceFree withMembarrier() {
            if (SKIPPED) {
                throw new IllegalStateException("no fence-free reader here: " + SKIP_REASON);
            }
            return new FenceFree(Srcu.builder("litmus").readerFlavour(ReaderFlavour.FENCE_FREE), true);
        }

        /** {@link #withMembarrier()}, or null if {@link #SKIPPED}: for the state's field. */
        static FenceFree withMembarrierOrSkip() {
            return SKIPPED ? null : withMembarrier();
        }

        /** BROKEN: a FENCE_FREE domain whose scans issue no heavy barrier at all; any JDK. */
        static FenceFree withoutMembarrier() {
            return new FenceFree(Srcu.builder("litmus").fenceFreeWithBarrier(() -> { }), false);
        }

        /**
         * One attempt of {@code Srcu.waitForReaders}: the domain's heavy barrier (M), then the
         * real scan of {@code idx} (the unlock counts with acquire reads, then the lock counts).
         *
         * @return whether the scan found no reader on {@code idx}
         */
        boolean scan(int idx) {
            heavyBarrier.run();
            return counters.readersGone(idx);
        }

        /** A registered slot reader, counted in on {@code idx} with the real opaque store: a reader inside. */
        Srcu.Reader readerInside(int idx) {
            Srcu.Reader r = registeredReader();
            r.countInOpaque(idx);
            return r;
        }

        private static String skipReason() {
            int feature = Runtime.version().feature();
            if (feature < 22) {
                return "JDK " + feature + " (the membarrier binding needs JDK 22 or later)";
            }
            if (Membarrier.syscallNumber(System.getProperty("os.name", ""), System.getProperty("os.arch", "")) < 0) {
                return "not Linux on x86-64 or AArch64";
            }
            return null;
        }

        private static final Field HEAVY_BARRIER;

        static {
            try {
                HEAVY_BARRIER = Srcu.class.getDeclaredField("heavyBarrier");
                HEAVY_BARRIER.setAccessible(true);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(new IllegalStateException(
                        "Srcu's heavyBarrier changed: update Litmus.FenceFree", e));
            }
            checkLayout(withoutMembarrier());
            if (!SKIPPED) {
                checkLayout(withMembarrier());
            }
        }

        /**
         * Fails the class's initialization (and so every test that uses this fixture) if a
         * registered reader of a fixture's domain no longer counts in and out on the slots the
         * scan reads, or the scan (barrier included) no longer sees it.
         */
        private static void checkLayout(FenceFree d) {
            Srcu.Reader r = d.readerInside(0);
            boolean inside = !d.scan(0) && d.counters.lockSum(0) == 1 && r.lockVolatile(0) == 1;
            r.countOut(0);
            if (!inside || !d.scan(0) || d.counters.unlockSum(0) != 1 || d.readIndex() != 0) {
                throw new IllegalStateException("the fence-free slot counters moved: update Litmus.FenceFree");
            }
        }
    }

    private static final Field READERS;
    private static final Field READ_SIDE;

    static {
        try {
            READERS = Srcu.class.getDeclaredField("readers");
            READERS.setAccessible(true);
            READ_SIDE = Srcu.class.getDeclaredField("rs");
            READ_SIDE.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Access modes on a long[] element, for the broken variants' raw counter updates. */
    static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
}
