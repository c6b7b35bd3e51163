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

/**
 * Deliberately broken variants of {@link FenceFreeReaderLitmus}: the fence-free reader, unchanged
 * (its real opaque entry), against a scan whose heavy barrier is gone. The domain is a real
 * FENCE_FREE domain built with a no-op barrier ({@link Litmus.FenceFree#withoutMembarrier()},
 * the package-private {@code Builder.fenceFreeWithBarrier}); g0, the scan and its sums are real.
 * The outcome the correct test forbids is marked {@code ACCEPTABLE_INTERESTING} here, so that a
 * run passes and reports how often it was seen; docs/testing.md records it.
 *
 * <p>This is the reader's half of the store-buffering pair left unfenced: the opaque store can
 * wait in the reader's store buffer while its load of the field runs, and the updater's scan then
 * reads the slot before the store drains. x86 (TSO) allows exactly this reordering, a store
 * followed by a load of another location, even though the updater's side is fenced (g0 is a
 * locked RMW, and {@code readersGone} has a full fence between its sums). With the membarrier,
 * the kernel's barrier on the reader's CPU drains the store before the scan reads it, or orders
 * the load after the unpublish.
 *
 * <p>The no-op barrier needs no JDK 22: these tests run on every JDK (the record in
 * docs/testing.md is from JDK 25, beside the correct tests).
 */
public final class FenceFreeReaderBrokenLitmus {
    private FenceFreeReaderBrokenLitmus() {
    }

    /**
     * {@link FenceFreeReaderLitmus.SlotEntryVsScan} without the membarrier: the reader's steady
     * state ({@code ctrIdx}, the slot's real {@code countInOpaque}, then the plain read of the
     * field, on a slot registered by the state's constructor) against a plain write, g0 and the
     * real scan of index 0 with no heavy barrier before it.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; counted")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; entered after the scan")
    @Outcome(id = "1, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: old value, yet the scan missed the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class SlotEntryWithoutMembarrier {
        final Litmus.FenceFree d = Litmus.FenceFree.withoutMembarrier();
        final Srcu.Reader slot = d.registeredReader();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            slot.countInOpaque(d.readIndex());
            r.r1 = published;
        }

        @Actor
        public void updater(II_Result r) {
            published = NEW;
            d.openGracePeriod();
            r.r2 = Litmus.counted(d.scan(0));
        }
    }

    /**
     * {@link FenceFreeReaderLitmus.ReadLockVsScan} without the membarrier: the real
     * {@link Srcu#readLock()} on its first use (registration, then the opaque store), then the
     * plain read, against the same updater. The registration in the actor makes the reader much
     * slower than the updater and its slot's cache line fresh, so the window is narrower than in
     * {@link #SlotEntryWithoutMembarrier} (as it was for the one-fence reader's fence-less entry).
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; counted")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; entered after the scan")
    @Outcome(id = "1, 0", expect = ACCEPTABLE_INTERESTING, desc = "BROKEN: old value, yet the scan missed the reader")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ReadLockWithoutMembarrier {
        final Litmus.FenceFree d = Litmus.FenceFree.withoutMembarrier();
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
            r.r2 = Litmus.counted(d.scan(0));
        }
    }
}
