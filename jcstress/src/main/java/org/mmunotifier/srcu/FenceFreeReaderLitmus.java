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
 * Litmus tests of the fence-free reader ({@link ReaderFlavour#FENCE_FREE}): each platform thread
 * counts in on its slot with an opaque store of the lock count (no fence, no read of
 * {@code gpSeq}) and out with a release store of the unlock count; the updater pays instead: each
 * scan first calls {@code membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)}, then sums the unlock
 * counts (acquire) and the lock counts. The updater's side is g0 and one real scan
 * ({@link Litmus.FenceFree#scan}: the domain's own membarrier, then
 * {@link ReaderCounters#readersGone}), or the real {@link Srcu#synchronize()}. Each names the
 * outcome docs/srcu.md's argument ("The fence-free reader") forbids; a run that observes it fails
 * (jcstress exits 1). Fixture: {@link Litmus.FenceFree#withMembarrier()}, one domain per trial.
 * The same reader against a scan without the membarrier is
 * {@link FenceFreeReaderBrokenLitmus}.
 *
 * <p><b>JDK 25 only.</b> Run with JDK 22 or later and native access enabled in the forked VMs,
 * from {@code jcstress/target}:
 * {@code java --enable-native-access=ALL-UNNAMED -jar jcstress.jar -m quick -sc false -jvmArgs
 * "-Xmx256m --enable-native-access=ALL-UNNAMED" -t 'org\.mmunotifier\.srcu\.FenceFreeReader'}.
 * Before JDK 22 (or off Linux x86-64/AArch64) the flavour cannot exist: every test reports
 * {@code -1, -1} ("skipped", {@code ACCEPTABLE_INTERESTING}) without building a domain, so a
 * JDK 17 run of the whole package still passes (or leave these out with
 * {@code -t '^org\.mmunotifier\.srcu\.(?!FenceFreeReader)'}). On JDK 22+ without
 * {@code --enable-native-access=ALL-UNNAMED} in {@code -jvmArgs} the domain cannot be built, and
 * every test fails as an error naming the missing flag.
 *
 * <p>Values reported: {@link Litmus#NONE} 0, {@link Litmus#OLD} 1, {@link Litmus#NEW} 2,
 * {@link Litmus#RECLAIMED} 3; "counted" is 1 when the scan found a reader on its index
 * ({@code readersGone} false), 0 when it found none. The scenario names are those of
 * {@link OneFenceReaderLitmus}.
 */
public final class FenceFreeReaderLitmus {
    private FenceFreeReaderLitmus() {
    }

    /**
     * Reader entry vs the scan: the store-buffering pair, here between the reader's opaque store
     * and the updater's membarrier.
     *
     * <p>Reader: the real {@link Srcu#readLock()} on its first use of the domain (it makes and
     * registers the thread's slot, then: volatile read of {@code ctrIdx}, the opaque store of the
     * slot's {@code lock[0]}), then a plain read of the published field; the section stays open.
     * Updater: a plain write of the field (the unpublish), g0, then one real scan of index 0 with
     * its membarrier first. Let P be where the membarrier's barrier runs on the reader's thread:
     * after the lock store, the store is visible before the membarrier returns and the scan counts
     * the reader; before it, the reader's later load of the field follows the updater's write
     * (the membarrier's barrier on the updater's side comes before every other CPU's): the new
     * value. Linux: {@code srcu_read_lock_lite} without {@code smp_mb()}, against the
     * {@code synchronize_rcu()} the grace period then issues before its scan.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; the scan counted the reader, so the grace period waits for it")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted anyway")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; the reader entered after the membarrier")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "old value, yet the scan did not count the reader")
    @Outcome(id = "-1, -1", expect = ACCEPTABLE_INTERESTING, desc = "skipped: no fence-free reader before JDK 22 (run with JDK 25)")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class ReadLockVsScan {
        final Litmus.FenceFree d = Litmus.FenceFree.withMembarrierOrSkip();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            if (Litmus.FenceFree.SKIPPED) {
                r.r1 = Litmus.FenceFree.SKIP;
                return;
            }
            d.srcu.readLock();
            r.r1 = published;
            d.forget();
        }

        @Actor
        public void updater(II_Result r) {
            if (Litmus.FenceFree.SKIPPED) {
                r.r2 = Litmus.FenceFree.SKIP;
                return;
            }
            published = NEW;
            d.openGracePeriod();
            r.r2 = Litmus.counted(d.scan(0));
        }
    }

    /**
     * {@link #ReadLockVsScan} in the reader's steady state: the slot (a real slotted
     * {@code Srcu.Reader} of the fence-free domain) was made and registered by the state's
     * constructor, so the reader actor runs only the statements of {@code Srcu.ReadSide.lock}'s fence-free
     * branch: the volatile read of {@code ctrIdx} and the slot's real {@code countInOpaque}; then
     * the plain read of the field. This is the scenario in which the same statements against a
     * scan without the membarrier
     * ({@link FenceFreeReaderBrokenLitmus.SlotEntryWithoutMembarrier}) show the store-buffering
     * outcome.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "old value; the scan counted the reader")
    @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "new value; counted anyway")
    @Outcome(id = "2, 0", expect = ACCEPTABLE, desc = "new value; the reader entered after the membarrier")
    @Outcome(id = "1, 0", expect = FORBIDDEN, desc = "old value, yet the scan did not count the reader")
    @Outcome(id = "-1, -1", expect = ACCEPTABLE_INTERESTING, desc = "skipped: no fence-free reader before JDK 22 (run with JDK 25)")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class SlotEntryVsScan {
        final Litmus.FenceFree d = Litmus.FenceFree.withMembarrierOrSkip();
        final Srcu.Reader slot = d == null ? null : d.registeredReader();
        int published = OLD;

        @Actor
        public void reader(II_Result r) {
            if (Litmus.FenceFree.SKIPPED) {
                r.r1 = Litmus.FenceFree.SKIP;
                return;
            }
            slot.countInOpaque(d.readIndex());
            r.r1 = published;
        }

        @Actor
        public void updater(II_Result r) {
            if (Litmus.FenceFree.SKIPPED) {
                r.r2 = Litmus.FenceFree.SKIP;
                return;
            }
            published = NEW;
            d.openGracePeriod();
            r.r2 = Litmus.counted(d.scan(0));
        }
    }

    /**
     * A whole read section vs one scan and the reclaim it allows.
     *
     * <p>Reader: the real {@link Srcu#readLock()} (the opaque store), a plain read of the
     * published reference and of the object's state, the real {@link Srcu#readUnlock(int)} (the
     * release store of the slot's {@code unlock[0]}). Updater: unpublishes the reference (plain),
     * g0, one real scan of index 0 (membarrier, then the sums) and, only if it found no reader,
     * reclaims the object (a plain write of its state). A reader whose lock store the membarrier
     * did not make visible reads after the unpublish and cannot reach the object; one the lock sum
     * counted can only look gone if the earlier acquire read of its unlock count saw the release
     * store, so the section's reads happen-before the reclaim.
     */
    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "the reader found the reference already unpublished")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "unpublished; the scan still counted the reader (no reclaim)")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the reader used the object and left before the scan; reclaimed after")
    @Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "the reader used the object; the scan counted it (no reclaim)")
    @Outcome(id = "3, 0", expect = FORBIDDEN, desc = "the scan let the updater reclaim an object the reader was still reading")
    @Outcome(id = "-1, -1", expect = ACCEPTABLE_INTERESTING, desc = "skipped: no fence-free reader before JDK 22 (run with JDK 25)")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction (no reclaim unless the scan found no reader)")
    @State
    public static class ReadSectionVsReclaim {
        final Litmus.FenceFree d = Litmus.FenceFree.withMembarrierOrSkip();
        final Litmus.Obj obj = new Litmus.Obj();
        Litmus.Obj published = obj;

        @Actor
        public void reader(II_Result r) {
            if (Litmus.FenceFree.SKIPPED) {
                r.r1 = Litmus.FenceFree.SKIP;
                return;
            }
            int idx = d.srcu.readLock();
            r.r1 = Litmus.Obj.seen(published);
            d.srcu.readUnlock(idx);
            d.forget();
        }

        @Actor
        public void updater(II_Result r) {
            if (Litmus.FenceFree.SKIPPED) {
                r.r2 = Litmus.FenceFree.SKIP;
                return;
            }
            published = null;
            d.openGracePeriod();
            boolean gone = d.scan(0);
            if (gone) {
                obj.state = Litmus.RECLAIMED;
            }
            r.r2 = Litmus.counted(gone);
        }
    }

    /**
     * A read section vs the whole real grace period on a FENCE_FREE domain: the real
     * {@link Srcu#readLock()}, {@link Srcu#readUnlock(int)} and {@link Srcu#synchronize()}
     * (snapshot, g0, pruning, the scan of the other index, the flip between its fences, the scan
     * of the old index; each scan, and each retry of one, with its membarrier first). Reader:
     * enters (its first use: the slot is made and registered), reports its index, reads the
     * published reference and the object's state, leaves. Updater: unpublishes, synchronizes,
     * reclaims. Forbidden: a reclaimed state seen (Linux's {@code synchronize_srcu} guarantee), and
     * a reader on the flipped index 1 that still reached the object (the flip comes after the
     * unpublish; nothing waits for a reader on index 1).
     */
    @JCStressTest
    @Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "old index; already unpublished")
    @Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "old index; used the object, the grace period waited for it")
    @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "flipped index; already unpublished")
    @Outcome(id = "1, 1", expect = FORBIDDEN, desc = "saw the flip but reached the unpublished object")
    @Outcome(id = {"0, 3", "1, 3"}, expect = FORBIDDEN, desc = "read the object after the updater reclaimed it")
    @Outcome(id = "-1, -1", expect = ACCEPTABLE_INTERESTING, desc = "skipped: no fence-free reader before JDK 22 (run with JDK 25)")
    @Outcome(expect = FORBIDDEN, desc = "impossible by construction")
    @State
    public static class SynchronizeVsReadSection {
        final Litmus.FenceFree d = Litmus.FenceFree.withMembarrierOrSkip();
        final Litmus.Obj obj = new Litmus.Obj();
        Litmus.Obj published = obj;

        @Actor
        public void reader(II_Result r) {
            if (Litmus.FenceFree.SKIPPED) {
                r.r1 = Litmus.FenceFree.SKIP;
                r.r2 = Litmus.FenceFree.SKIP;
                return;
            }
            int idx = d.srcu.readLock();
            r.r1 = idx;
            r.r2 = Litmus.Obj.seen(published);
            d.srcu.readUnlock(idx);
            d.forget();
        }

        @Actor
        public void updater() {
            if (Litmus.FenceFree.SKIPPED) {
                return;
            }
            published = null;
            d.srcu.synchronize();
            obj.state = Litmus.RECLAIMED;
            d.forget();
        }
    }
}
