package org.mmunotifier.srcu;

import static org.mmunotifier.srcu.Litmus.NEW;
import static org.mmunotifier.srcu.Litmus.OLD;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.Z_Result;

/**
 * Deliberately broken variants of {@link OneFenceReaderLitmus}: each drops one ordering the
 * one-fence reader relies on and keeps everything else real (the registration, the scan, g0).
 * The outcome the correct test forbids is marked {@code ACCEPTABLE_INTERESTING} here, so that a
 * run passes and reports how often it was seen; docs/testing.md records, per variant, whether it
 * shows on x86 or is invisible there. x86 is TSO: only a store followed by a load of another
 * location can be reordered (by the store buffer), and HotSpot follows every volatile store with
 * a full fence ({@code lock addl}); a missing release, acquire, or JMM edge alone cannot show
 * there, though the Java memory model and weaker hardware (AArch64, POWER) allow the outcome.
 * Outcomes impossible even for the broken code stay {@code FORBIDDEN}.
 */
public final class OneFenceReaderBrokenLitmus {
    private OneFenceReaderBrokenLitmus() {
    }

    /**
     * {@link OneFenceReaderLitmus.SlotEntryVsScan} with the reader's lock count stored opaque
     * instead of {@code setVolatile}: {@code Srcu.ReadSide.lock}'s statements on a real slot registered by
     * the state's constructor (a volatile read of {@code ctrIdx}, the store, a volatile read of
     * {@code gpSeq}) with the one full fence gone. The scan and g0 are real. The reader's store can
     * wait in its store buffer while its loads of {@code gpSeq} and the field run, and the
     * updater's scan then reads the slot before the store drains: store buffering on the reader's
     * side, visible on x86. The {@code gpSeq} read does not save it: it gives an edge only when it
     * comes after g0, and here it may read the value from before g0 while the store is still
     * invisible.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; counted")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; entered after g0 and the scan")
    @Outcome(id = "1, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: old value, yet the scan missed the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ReaderEntryWithoutFence {
        final Litmus.OneFence d = new Litmus.OneFence();
        int published = OLD;

        final Srcu.Reader slot = d.registeredReader();

        @Actor
        public void reader(II_Result r) {
            Litmus.OneFence.countInOpaque(slot, d.readIndex());
            d.readGpSeq();
            r.r1 = published;
        }

        @Actor
        public void updater(II_Result r) {
            published = NEW;
            d.openGracePeriod();
            r.r2 = Litmus.counted(d.counters.readersGone(0));
        }
    }

    /**
     * {@link OneFenceReaderLitmus.SlotEntryVsScan} with the fence kept (the slot's real
     * {@code countIn}, a volatile store) but without the volatile read of {@code gpSeq} after it.
     * Under the Java memory model this is broken: if the scan's volatile read of the slot precedes
     * the lock store in the synchronization order, nothing the updater wrote synchronizes-with
     * anything the reader read, so no happens-before edge carries the unpublish to the reader,
     * and "old value, not counted" is allowed. On x86 it cannot show: HotSpot's volatile store is
     * a store plus {@code lock addl} (a StoreLoad fence), so the reader's plain read cannot pass
     * its lock store, and g0 is a locked RMW on the updater's side: both halves of the
     * store-buffering pair are fenced, which TSO makes sequentially consistent. On AArch64 a
     * volatile store is an {@code stlr}, which a later plain load may pass, so there it could.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; counted")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; entered after g0 and the scan")
    @Outcome(id = "1, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN (JMM): old value, yet the scan missed the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ReaderEntryWithoutGpSeqRead {
        final Litmus.OneFence d = new Litmus.OneFence();
        int published = OLD;

        final Srcu.Reader slot = d.registeredReader();

        @Actor
        public void reader(II_Result r) {
            slot.countIn(d.readIndex());
            r.r1 = published;
        }

        @Actor
        public void updater(II_Result r) {
            published = NEW;
            d.openGracePeriod();
            r.r2 = Litmus.counted(d.counters.readersGone(0));
        }
    }

    /**
     * {@link OneFenceReaderLitmus.ReadUnlockVsReclaim} with the unlock count stored plainly
     * instead of with {@code setRelease}, after the section's plain read. The reader was counted
     * in on its real, registered slot by the state's constructor; the scan is the real one. The
     * section's load and the unlock's store are a load then a store, which x86 never reorders
     * (and HotSpot compiles both to plain moves in program order here), so this stays invisible
     * on x86; the Java memory model (no happens-before from the read to the reclaim) and weaker
     * hardware allow it.
     */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the reader left before the scan; reclaimed after its read")
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "the scan counted the reader: no reclaim")
    @Outcome(id = "3, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: the scan saw the reader gone, yet its section read the reclaimed state")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction (no reclaim unless the scan found no reader)")
    @State
    public static class UnlockWithoutRelease {
        final Litmus.OneFence d = new Litmus.OneFence();
        final Srcu.Reader inside = d.readerInside(0);
        final Litmus.Obj obj = new Litmus.Obj();

        @Actor
        public void reader(II_Result r) {
            r.r1 = obj.state;
            Litmus.OneFence.countOutPlain(inside, 0);
        }

        @Actor
        public void updater(II_Result r) {
            boolean gone = d.counters.readersGone(0);
            if (gone) {
                obj.state = Litmus.RECLAIMED;
            }
            r.r2 = Litmus.counted(gone);
        }
    }

    /**
     * {@link OneFenceReaderLitmus.ScanVsReaderInAndOut} with the scan's sums reversed: the real
     * lock sum, then the real unlock sum ({@link ReaderCounters#lockSum},
     * {@link ReaderCounters#unlockSum}, over the stripes and both slots). Reader B, counted in
     * after the lock sum read its slot and out before the unlock sum reads it again (256 stripes
     * later), balances reader A, who is still inside. Not a reordering but a window in the
     * algorithm, so any hardware shows it when B fits in the window.
     */
    @JCStressTest
    @Outcome(id = "false", expect = ACCEPTABLE, desc = "the scan counted reader A")
    @Outcome(id = "true", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: the scan reported no reader while A was inside")
    @State
    public static class ScanLocksBeforeUnlocks {
        static final int STRIPES = OneFenceReaderLitmus.ScanVsReaderInAndOut.STRIPES;
        final Litmus.OneFence d = new Litmus.OneFence(new ReaderCounters(STRIPES));
        final Srcu.Reader a = d.readerInside(0);
        final Srcu.Reader b = d.registeredReader();

        @Actor
        public void readerB() {
            b.countIn(0);
            b.countOut(0);
        }

        @Actor
        public void updater(Z_Result r) {
            long locks = d.counters.lockSum(0);
            long unlocks = d.counters.unlockSum(0);
            r.r1 = locks == unlocks;
        }
    }
}
