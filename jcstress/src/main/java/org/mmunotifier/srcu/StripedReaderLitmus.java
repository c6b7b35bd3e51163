package org.mmunotifier.srcu;

import static org.mmunotifier.srcu.Litmus.NEW;
import static org.mmunotifier.srcu.Litmus.OLD;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.lang.invoke.VarHandle;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.Z_Result;

/**
 * Litmus tests of today's SRCU reader: two read-modify-writes on the striped counters of
 * {@link ReaderCounters}, as {@code Srcu.readLock/readUnlock} and {@code downRead/upRead} use
 * them, against the real scan ({@link ReaderCounters#readersGone}) or the real
 * {@link Srcu#synchronize()}. Each names the outcome the memory-ordering argument of
 * docs/srcu.md forbids; a run that observes it fails (jcstress exits 1).
 *
 * <p>Values reported: {@link Litmus#NONE} 0, {@link Litmus#OLD} 1, {@link Litmus#NEW} 2,
 * {@link Litmus#RECLAIMED} 3; "counted" is 1 when the scan found a reader on its index
 * ({@code readersGone} false), 0 when it found none. The broken variants are in
 * {@link StripedReaderBrokenLitmus}.
 */
public final class StripedReaderLitmus {
    private StripedReaderLitmus() {
    }

    /**
     * Reader entry vs the scan: the store-buffering pair at the heart of SRCU.
     *
     * <p>Reader: the real {@link Srcu#readLock()} (a volatile read of {@code ctrIdx}, then the
     * lock {@code getAndAdd} on {@code lock[stripe][0]}), then a plain read of the published
     * field; the section stays open. Updater: a plain write of the field (the unpublish), then the
     * real scan of index 0. Models Linux's {@code srcu_read_lock} with its {@code smp_mb()} B
     * against {@code srcu_readers_active_idx_check} with its {@code smp_mb()} A; here the pair is
     * the reader's lock RMW and the scan's {@code getAndAdd(0)} on the same counter (plus the
     * scan's {@code fullFence}). Whichever comes first in the synchronization order, the reader
     * either is counted or sees the new value, even though the field itself is plain.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; the scan counted the reader, so the grace period waits for it")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted anyway")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; the reader entered after the scan")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "old value, yet the scan did not count the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ReadLockVsScan {
        final Litmus.Striped d = new Litmus.Striped();
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
            r.r2 = Litmus.counted(d.counters.readersGone(0));
        }
    }

    /**
     * {@link #ReadLockVsScan} with the real {@link Srcu#downRead()} as the reader's entry (the
     * same lock RMW, then the count of outstanding {@code downRead} sections): Linux's
     * {@code srcu_down_read} and its {@code smp_mb()} B against the scan's A.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; the scan counted the reader")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted anyway")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; the reader entered after the scan")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "old value, yet the scan did not count the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class DownReadVsScan {
        final Litmus.Striped d = new Litmus.Striped();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            d.srcu.downRead();
            r.r1 = published;
            d.forget();
        }

        @Actor
        public void updater(II_Result r) {
            published = NEW;
            r.r2 = Litmus.counted(d.counters.readersGone(0));
        }
    }

    /**
     * A whole read section vs one scan and the reclaim it allows.
     *
     * <p>Reader: the real {@link Srcu#readLock()}, a plain read of the published reference and of
     * the object's state, the real {@link Srcu#readUnlock(int)}. Updater: unpublishes the
     * reference (plain), runs the real scan of index 0 once and, only if it found no reader,
     * reclaims the object (a plain write of its state). Both edges of the argument meet here: a
     * reader that entered after the scan cannot reach the object (B against A, as in
     * {@link #ReadLockVsScan}); a reader the lock sum counted can only look gone if the earlier
     * unlock sum counted its unlock, whose volatile read synchronizes-with that unlock RMW, so the
     * section's reads happen-before the reclaim (Linux's {@code srcu_read_unlock} with its
     * {@code smp_mb()} C against the scan's A).
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
        final Litmus.Striped d = new Litmus.Striped();
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
            boolean gone = d.counters.readersGone(0);
            if (gone) {
                obj.state = Litmus.RECLAIMED;
            }
            r.r2 = Litmus.counted(gone);
        }
    }

    /**
     * The unlock vs the scan's unlock sum, alone: a reader that entered before the updater began
     * (the state's constructor runs the real {@link Srcu#downRead()}) reads the object, then
     * leaves with the real {@link Srcu#upRead(int)} on another thread (the actor's). Updater: the
     * real scan of index 0, then the reclaim if it found the reader gone. Models Linux's
     * {@code srcu_up_read} (its {@code smp_mb()} C before the unlock increment) against
     * {@code srcu_readers_active_idx_check}'s unlock sum and A: equal sums mean the unlock sum
     * read the reader's unlock RMW, so the section's read happens-before the reclaim.
     */
    @JCStressTest
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the reader left before the scan; reclaimed after its read")
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "the scan counted the reader: no reclaim")
    @Outcome(id = "3, 0", expect = FORBIDDEN, desc = "the scan saw the reader gone, yet its section read the reclaimed state")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction (no reclaim unless the scan found no reader)")
    @State
    public static class UpReadVsReclaim {
        final Litmus.Striped d = new Litmus.Striped();
        final Litmus.Obj obj = new Litmus.Obj();
        final int idx;

        public UpReadVsReclaim() {
            idx = d.srcu.downRead();
            d.forget(); // downRead keeps nothing per thread: upRead may run anywhere
        }

        @Actor
        public void reader(II_Result r) {
            r.r1 = obj.state;
            d.srcu.upRead(idx);
            d.forget();
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
     * The scan's order against a reader that enters and leaves during it. A reader A is inside
     * from the start (counted in on stripe 0 by the state's constructor) and never leaves; reader
     * B counts in on stripe 0 and out on the last stripe (as an {@code upRead} on another
     * thread's stripe does), both with the real {@link ReaderCounters#lock}/{@link
     * ReaderCounters#unlock}. Updater: the real scan over 256 stripes, so B has time to pass
     * through. The scan sums unlocks first, as Linux's {@code srcu_readers_active_idx_check}
     * does: an unlock it counts has its lock counted by the later lock sum, so B can never cancel
     * A. Forbidden: "gone" while A is inside. The reversed scan in
     * {@link StripedReaderBrokenLitmus.ScanLocksBeforeUnlocks} is fooled by the same B.
     */
    @JCStressTest
    @Outcome(id = "false", expect = ACCEPTABLE, desc = "the scan counted reader A")
    @Outcome(id = "true", expect = FORBIDDEN, desc = "the scan reported no reader while A was inside")
    @State
    public static class ScanVsReaderInAndOut {
        static final int STRIPES = 256;
        final ReaderCounters counters = new ReaderCounters(STRIPES);

        {
            counters.lock(0, 0); // reader A: inside before the updater begins, never leaves
        }

        @Actor
        public void readerB() {
            counters.lock(0, 0);
            counters.unlock(STRIPES - 1, 0);
        }

        @Actor
        public void updater(Z_Result r) {
            r.r1 = counters.readersGone(0);
        }
    }

    /**
     * The index flip vs a reader that reads {@code ctrIdx} and counts in.
     *
     * <p>{@code ctrIdx} and the flip are private to {@code Srcu.runGracePeriod}, which bundles
     * both scans and the waits; this test keeps a {@code ctrIdx} of its own (volatile, as
     * {@code Srcu}'s) and runs the grace period's steps on it with the real building blocks.
     * Updater: unpublish (plain write); the real scan of index 1 (the first scan; nobody can be
     * counted there yet); {@code fullFence} (Linux's {@code srcu_flip} {@code smp_mb()} E);
     * {@code ctrIdx ^= 1}; {@code fullFence} (D); the real scan of the old index 0. Reader: the
     * two statements of {@code Srcu.ReadSide.lock}: a volatile read of {@code ctrIdx}, the real
     * {@link ReaderCounters#lock} on that index (Linux's {@code srcu_read_lock}: the index read,
     * the increment and B), then a plain read of the field.
     *
     * <p>Forbidden: (a) the reader counted on the old index 0, saw the old value, and the scan of
     * index 0 did not count it (the store-buffering pair of {@link #ReadLockVsScan}); (b) the
     * reader saw the flipped index 1 but the old value: the flip is a volatile write after the
     * unpublish, so a reader that reads it sees the unpublish too. (b) matters because no scan
     * of this grace period waits for a reader on index 1 (E paired with B). A reader on index 1
     * is never counted by the scan of index 0.
     */
    @JCStressTest
    @Outcome(id = "0, 1, 1", expect = ACCEPTABLE, desc = "old index, old value; the scan of the old index counted the reader")
    @Outcome(id = "0, 2, 1", expect = ACCEPTABLE, desc = "old index, new value; counted anyway")
    @Outcome(id = "0, 2, 0", expect = ACCEPTABLE, desc = "old index, new value; counted in after the scan")
    @Outcome(id = "1, 2, 0", expect = ACCEPTABLE, desc = "flipped index, new value; not this grace period's concern")
    @Outcome(id = "0, 1, 0", expect = FORBIDDEN, desc = "old index and value, yet the scan of the old index missed the reader")
    @Outcome(id = "1, 1, 0", expect = FORBIDDEN, desc = "saw the flip but not the unpublish made before it")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction (the scan of index 0 cannot count a reader on index 1)")
    @State
    public static class FlipVsReader {
        final ReaderCounters counters = new ReaderCounters();
        volatile int ctrIdx;
        int published = OLD;

        @Actor
        public void reader(III_Result r) {
            int idx = ctrIdx & 1;
            counters.lock(0, idx);
            r.r1 = idx;
            r.r2 = published;
        }

        @Actor
        public void updater(III_Result r) {
            published = NEW;
            counters.readersGone(1);
            VarHandle.fullFence();
            ctrIdx = ctrIdx ^ 1;
            VarHandle.fullFence();
            r.r3 = Litmus.counted(counters.readersGone(0));
        }
    }

    /**
     * A read section vs the whole real grace period: the real {@link Srcu#readLock()},
     * {@link Srcu#readUnlock(int)} and {@link Srcu#synchronize()} (first scan, E, the flip, D,
     * the scan of the old index, each scan retried until it passes). Reader: enters, reads the
     * published reference and the object's state, reports its index, leaves. Updater: unpublishes,
     * synchronizes, reclaims. Forbidden: a reclaimed state seen (Linux's {@code synchronize_srcu}
     * guarantee), and a reader on the flipped index 1 that still reached the object (the flip
     * comes after the unpublish; nothing waits for a reader on index 1).
     */
    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "old index; already unpublished")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "old index; used the object, the grace period waited for it")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "flipped index; already unpublished")
    @Outcome(id = "1, 1", expect = FORBIDDEN, desc = "saw the flip but reached the unpublished object")
    @Outcome(id = {"0, 3", "1, 3"}, expect = FORBIDDEN, desc = "read the object after the updater reclaimed it")
    @State
    public static class SynchronizeVsReadSection {
        final Litmus.Striped d = new Litmus.Striped();
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
