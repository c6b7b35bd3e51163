package org.mmunotifier.srcu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;

/**
 * Shared pieces of the SRCU litmus tests: the values the actors report, the object a reader
 * reaches, and one fixture per reader flavour.
 *
 * <p><b>Layout of this package (jcstress module).</b> One file per reader flavour holds that
 * flavour's litmus tests as nested classes, and a sibling file its deliberately broken variants:
 *
 * <ul>
 *   <li>{@code StripedReaderLitmus} / {@code StripedReaderBrokenLitmus}: today's reader, two
 *       read-modify-writes on the striped counters of {@link ReaderCounters} (used by
 *       {@code Srcu.readLock/readUnlock}, {@code downRead/upRead} and {@code Srcu.Reader}).
 *   <li>{@code OneFenceReaderLitmus} / {@code OneFenceReaderBrokenLitmus} (to come with that
 *       reader): per-thread slots in {@code Srcu.Reader}, a volatile store of the owner's lock
 *       slot plus a volatile read of {@code gpSeq}, and a release-store unlock. Its tests keep
 *       the scenario names used here ({@code ReadLockVsScan}, {@code ReadSectionVsReclaim},
 *       {@code SynchronizeVsReadSection}, ...), so that the results tables line up per flavour,
 *       and get their fixture as another nested class of this one, next to {@link Striped}.
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
     * Today's flavour: a domain over striped {@link ReaderCounters}, with the counters at hand so
     * a test can run the real scan ({@link ReaderCounters#readersGone}) without a whole grace
     * period. Built through {@code Srcu}'s package-private constructor that takes the counters.
     */
    static final class Striped {
        final ReaderCounters counters;
        final Srcu srcu;
        private final ThreadLocal<?> readers;

        /** A domain with the default number of stripes, as {@code new Srcu(name)} makes. */
        Striped() {
            this(new ReaderCounters());
        }

        Striped(ReaderCounters counters) {
            this.counters = counters;
            this.srcu = new Srcu(Srcu.builder("litmus"), counters);
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
         * <p>Why: {@code Srcu}'s per-thread entry (a {@code Srcu.Reader}) refers to its domain, and
         * the domain to the {@code ThreadLocal} that keys the entry, so the entry's weak key never
         * clears while the thread lives: every domain a long-lived thread has read stays reachable
         * from that thread (about 1.3 KB each). Harmless for the long-lived domains of real use;
         * a jcstress run makes a domain per trial on the same few threads and ran out of heap.
         * The field is private and this module must not change the srcu module, hence reflection.
         */
        void forget() {
            readers.remove();
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
        private static final Field READERS;

        static {
            try {
                COUNTS = ReaderCounters.class.getDeclaredField("counts");
                COUNTS.setAccessible(true);
                READERS = Srcu.class.getDeclaredField("readers");
                READERS.setAccessible(true);
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

    /** Access modes on a long[] element, for the broken variants' raw counter updates. */
    static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
}
