package org.mmunotifier.srcu;

import static org.mmunotifier.srcu.Litmus.NEW;
import static org.mmunotifier.srcu.Litmus.OLD;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.Z_Result;

/**
 * Litmus tests of the one-fence reader, the default of platform threads: each thread counts in
 * on a slot of its own (its {@code Srcu.Reader}) with a volatile store of the lock count followed
 * by a volatile read of {@code gpSeq}, and out with a release store of the unlock count. The
 * updater's side is the grace period's opening RMW on {@code gpSeq} (g0) and the real scan
 * ({@link ReaderCounters#readersGone}: the unlock counts with acquire reads, then the lock counts
 * with volatile reads), or the real {@link Srcu#synchronize()}. Each names the outcome the
 * memory-ordering argument of docs/srcu.md forbids; a run that observes it fails (jcstress exits
 * 1). Fixture: {@link Litmus.OneFence}, one domain per trial.
 *
 * <p>Values reported: {@link Litmus#NONE} 0, {@link Litmus#OLD} 1, {@link Litmus#NEW} 2,
 * {@link Litmus#RECLAIMED} 3; "counted" is 1 when the scan found a reader on its index
 * ({@code readersGone} false), 0 when it found none. The scenario names are those of
 * {@link StripedReaderLitmus}; the broken variants are in {@link OneFenceReaderBrokenLitmus}.
 */
public final class OneFenceReaderLitmus {
    private OneFenceReaderLitmus() {
    }

    /**
     * Reader entry vs the scan: the store-buffering pair, here between the reader's slot and
     * {@code gpSeq}.
     *
     * <p>Reader: the real {@link Srcu#readLock()} on its first use of the domain (it makes and
     * registers the thread's slot, then: volatile read of {@code ctrIdx}, volatile store of the
     * slot's {@code lock[0]}, volatile read of {@code gpSeq}), then a plain read of the published
     * field; the section stays open. Updater: a plain write of the field (the unpublish), g0 (the
     * grace period's opening {@code getAndAdd(1)} on {@code gpSeq}), then the real scan of index
     * 0. Either the reader's {@code gpSeq} read comes after g0 in the synchronization order (g0
     * synchronizes-with it: the new value), or its lock store comes before g0 and so before the
     * scan's volatile read of the slot (counted). Linux: {@code srcu_read_lock}'s {@code smp_mb()}
     * B against the grace period's full barrier before {@code srcu_readers_active_idx_check}.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; the scan counted the reader, so the grace period waits for it")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted anyway")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; the reader entered after g0 and the scan")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "old value, yet the scan did not count the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ReadLockVsScan {
        final Litmus.OneFence d = new Litmus.OneFence();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            d.srcu.readLock();
            r.r1 = published;
            d.forget();
        }

        @Actor
        public void updater(II_Result r) {
            published = NEW;
            d.openGracePeriod();
            r.r2 = Litmus.counted(d.counters.readersGone(0));
        }
    }

    /**
     * {@link #ReadLockVsScan} in the reader's steady state: the slot (a real slotted
     * {@code Srcu.Reader}) was made and registered by the state's constructor, so the reader actor
     * runs only the statements of {@code Srcu.ReadSide.lock}'s slot branch: the volatile read of
     * {@code ctrIdx}, the slot's real {@code countIn} (the volatile store), the volatile read of
     * {@code gpSeq}; then the plain read of the field. (The public {@code lock()} would refuse the
     * actor's thread, which is not the slot's owner; the slot has one writer either way.) Without
     * the registration in the actor, reader and updater run at comparable speeds and the slot's
     * cache line is not already the reader's, so the window the fence closes is wide open: this is
     * the scenario in which {@link OneFenceReaderBrokenLitmus.ReaderEntryWithoutFence}, the same
     * statements with an opaque store, is caught.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; the scan counted the reader")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted anyway")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; the reader entered after g0 and the scan")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "old value, yet the scan did not count the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class SlotEntryVsScan {
        final Litmus.OneFence d = new Litmus.OneFence();
        final Srcu.Reader slot = d.registeredReader();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            slot.countIn(d.readIndex());
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
     * A whole read section vs one scan and the reclaim it allows.
     *
     * <p>Reader: the real {@link Srcu#readLock()}, a plain read of the published reference and of
     * the object's state, the real {@link Srcu#readUnlock(int)} (the release store of the slot's
     * {@code unlock[0]}). Updater: unpublishes the reference (plain), g0, the real scan of index 0
     * once and, only if it found no reader, reclaims the object (a plain write of its state). A
     * reader that entered after g0 cannot reach the object (as in {@link #ReadLockVsScan}); one
     * the lock sum counted can only look gone if the earlier acquire read of its unlock count saw
     * the release store, so the section's reads happen-before the reclaim.
     */
    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "the reader found the reference already unpublished")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "unpublished; the scan still counted the reader (no reclaim)")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the reader used the object and left before the scan; reclaimed after")
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "the reader used the object; the scan counted it (no reclaim)")
    @Outcome(id = "3, 0", expect = FORBIDDEN, desc = "the scan let the updater reclaim an object the reader was still reading")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction (no reclaim unless the scan found no reader)")
    @State
    public static class ReadSectionVsReclaim {
        final Litmus.OneFence d = new Litmus.OneFence();
        final Litmus.Obj obj = new Litmus.Obj();
        Litmus.Obj published = obj;

        @Actor
        public void reader(II_Result r) {
            int idx = d.srcu.readLock();
            r.r1 = Litmus.Obj.seen(published);
            d.srcu.readUnlock(idx);
            d.forget();
        }

        @Actor
        public void updater(II_Result r) {
            published = null;
            d.openGracePeriod();
            boolean gone = d.counters.readersGone(0);
            if (gone) {
                obj.state = Litmus.RECLAIMED;
            }
            r.r2 = Litmus.counted(gone);
        }
    }

    /**
     * The unlock vs the scan's unlock sum, alone (the one-fence counterpart of
     * {@link StripedReaderLitmus.UpReadVsReclaim}). The state's constructor makes a slotted
     * {@code Srcu.Reader}, registers it and counts it in on index 0 (the statements of
     * {@code Srcu.newReader} and {@code Srcu.ReadSide.lock}): a reader inside before the updater begins.
     * Reader actor: reads the object, then counts out with the slot's real {@code countOut(0)}, the
     * release store {@code Srcu.readUnlock} makes after its pairing check. Updater: the real scan
     * of index 0, then the reclaim if it found the reader gone. Equal sums mean the acquire read
     * of the unlock count saw the release store, so the section's read happens-before the
     * reclaim.
     */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the reader left before the scan; reclaimed after its read")
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "the scan counted the reader: no reclaim")
    @Outcome(id = "3, 0", expect = FORBIDDEN, desc = "the scan saw the reader gone, yet its section read the reclaimed state")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction (no reclaim unless the scan found no reader)")
    @State
    public static class ReadUnlockVsReclaim {
        final Litmus.OneFence d = new Litmus.OneFence();
        final Srcu.Reader inside = d.readerInside(0);
        final Litmus.Obj obj = new Litmus.Obj();

        @Actor
        public void reader(II_Result r) {
            r.r1 = obj.state;
            inside.countOut(0);
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
     * The scan's order against a slot reader that enters and leaves during it. Reader A is inside
     * from the start (a slot the constructor counted in on index 0) and never leaves; reader B has
     * a registered slot of its own and counts in and out on index 0 with the slot's real
     * {@code countIn}/{@code countOut}. Updater: the real scan over a domain with 256 stripes, so
     * that the stripes between the two reads of B's slot leave B time to pass through. The scan
     * sums unlocks first: an unlock of B that it counts comes (acquire) with B's lock, which the
     * later volatile read of B's lock count then sees, so B can never cancel A. Forbidden: "gone"
     * while A is inside. The reversed scan in
     * {@link OneFenceReaderBrokenLitmus.ScanLocksBeforeUnlocks} is fooled by the same B.
     */
    @JCStressTest
    @Outcome(id = "false", expect = ACCEPTABLE, desc = "the scan counted reader A")
    @Outcome(id = "true", expect = FORBIDDEN, desc = "the scan reported no reader while A was inside")
    @State
    public static class ScanVsReaderInAndOut {
        static final int STRIPES = 256;
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
            r.r1 = d.counters.readersGone(0);
        }
    }

    /**
     * A read section vs the whole real grace period: the real {@link Srcu#readLock()},
     * {@link Srcu#readUnlock(int)} and {@link Srcu#synchronize()} (snapshot, g0, pruning, first
     * scan, the flip between its fences, the scan of the old index, each scan retried until it
     * passes) on a one-fence domain. Reader: enters (its first use: the slot is made and
     * registered), reads the published reference and the object's state, reports its index,
     * leaves. Updater: unpublishes, synchronizes, reclaims. Forbidden: a reclaimed state seen
     * (Linux's {@code synchronize_srcu} guarantee), and a reader on the flipped index 1 that still
     * reached the object (the flip comes after the unpublish; nothing waits for a reader on index
     * 1).
     */
    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "old index; already unpublished")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "old index; used the object, the grace period waited for it")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "flipped index; already unpublished")
    @Outcome(id = "1, 1", expect = FORBIDDEN, desc = "saw the flip but reached the unpublished object")
    @Outcome(id = {"0, 3", "1, 3"}, expect = FORBIDDEN, desc = "read the object after the updater reclaimed it")
    @State
    public static class SynchronizeVsReadSection {
        final Litmus.OneFence d = new Litmus.OneFence();
        final Litmus.Obj obj = new Litmus.Obj();
        Litmus.Obj published = obj;

        @Actor
        public void reader(II_Result r) {
            int idx = d.srcu.readLock();
            r.r1 = idx;
            r.r2 = Litmus.Obj.seen(published);
            d.srcu.readUnlock(idx);
            d.forget();
        }

        @Actor
        public void updater() {
            published = null;
            d.srcu.synchronize();
            obj.state = Litmus.RECLAIMED;
            d.forget();
        }
    }
}
