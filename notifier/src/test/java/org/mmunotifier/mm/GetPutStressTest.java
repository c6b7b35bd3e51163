package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Seeded random stress: threads get and put notifiers of a few ops on a few mms while other
 * threads run blockable and non-blockable invalidations (whose starts fail at random) and young
 * queries. Checked throughout by the recorders and at the end: no end without a successful start,
 * no callback on a freed notifier, no free while a callback runs, every notifier freed exactly
 * once, every mm back to its users' reference. Bounded in time (about half a second per seed).
 */
class GetPutStressTest extends NotifierTestBase {
    private static final long RUN_NANOS = TimeUnit.MILLISECONDS.toNanos(400);

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1L, 42L, 20191105L})
    void registrationRacingInvalidations_keepsPairingAndLifetime(long seed) throws Exception {
        run(seed, RUN_NANOS);
    }

    /** The heavier tier ({@code mvn -B -ntp verify -Plong -pl notifier}): 16 seeds, 2 s each. */
    @Tag("long")
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("longSeeds")
    void long_registrationRacingInvalidations_keepsPairingAndLifetime(long seed) throws Exception {
        run(seed, TimeUnit.SECONDS.toNanos(2));
    }

    static LongStream longSeeds() {
        return LongStream.rangeClosed(100, 115);
    }

    private void run(long seed, long runNanos) throws Exception {
        SplittableRandom root = new SplittableRandom(seed);
        ConcurrentLinkedQueue<Recorder> allocated = new ConcurrentLinkedQueue<>();
        List<Recorder.Ops> opsList = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            opsList.add(new Recorder.Ops("ops" + i) {
                @Override
                public Recorder allocNotifier(MmStruct mm) {
                    Recorder r = track(super.allocNotifier(mm));
                    allocated.add(r);
                    return r;
                }

                @Override
                boolean onStart(Recorder mn, MmuNotifierRange range) {
                    // a non-blockable start fails for some notifiers (hash of range and notifier)
                    return range.blockable() || ((range.start() >>> 12) + mn.name.hashCode()) % 3 != 0;
                }
            });
        }
        List<MmStruct> mms = List.of(new MmStruct(), new MmStruct());
        int getters = 2;
        int invalidators = 2;
        CyclicBarrier go = new CyclicBarrier(getters + invalidators);
        long deadline = System.nanoTime() + runNanos;
        List<Worker> workers = new ArrayList<>();
        for (int t = 0; t < getters; t++) {
            SplittableRandom rnd = root.split();
            workers.add(new Worker("getter-" + t, () -> {
                List<Recorder> held = new ArrayList<>();
                go.await();
                while (System.nanoTime() < deadline) {
                    if (held.isEmpty() || rnd.nextInt(3) != 0) {
                        Recorder.Ops ops = opsList.get(rnd.nextInt(opsList.size()));
                        held.add(MmuNotifiers.get(ops, mms.get(rnd.nextInt(mms.size()))));
                        if (held.size() > 6) {
                            MmuNotifiers.put(held.remove(rnd.nextInt(held.size())));
                        }
                    } else {
                        MmuNotifiers.put(held.remove(rnd.nextInt(held.size())));
                    }
                }
                for (Recorder r : held) {
                    MmuNotifiers.put(r);
                }
            }));
        }
        for (int t = 0; t < invalidators; t++) {
            SplittableRandom rnd = root.split();
            workers.add(new Worker("invalidator-" + t, () -> {
                go.await();
                while (System.nanoTime() < deadline) {
                    MmStruct mm = mms.get(rnd.nextInt(mms.size()));
                    long start = (long) rnd.nextInt(64) << 12;
                    MmuNotifierRange r = new MmuNotifierRange(mm, start, start + 4096, MmuNotifierEvent.CLEAR);
                    switch (rnd.nextInt(4)) {
                        case 0:
                            PrimaryMmu.invalidateRangeStart(r);
                            Thread.yield();
                            PrimaryMmu.invalidateRangeEnd(r);
                            break;
                        case 1:
                            if (PrimaryMmu.invalidateRangeStartNonblock(r)) {
                                PrimaryMmu.invalidateRangeOnlyEnd(r);
                            }
                            break;
                        case 2:
                            PrimaryMmu.invalidateRange(mm, start, start + 4096);
                            break;
                        default:
                            PrimaryMmu.clearYoung(mm, start, start + 4096);
                            break;
                    }
                }
            }));
        }
        for (Worker w : workers) {
            w.joinChecked();
        }
        MmuNotifiers.synchronize();
        String seedMsg = "seed " + seed;
        assertThat(allocated).as(seedMsg).isNotEmpty();
        for (Recorder r : allocated) {
            assertThat(r.violationsSnapshot()).as(seedMsg + ": " + r).isEmpty();
            assertThat(r.frees.get()).as(seedMsg + ": frees of " + r).isEqualTo(1);
            assertThat(r.open.get()).as(seedMsg + ": open pairs of " + r).isGreaterThanOrEqualTo(0);
        }
        for (MmStruct mm : mms) {
            assertThat(mm.subscriptions.list).as(seedMsg).isEmpty();
            assertThat(mm.count()).as(seedMsg + ": only the users' reference is left").isEqualTo(1);
            mm.mmput();
            assertThat(mm.isDestroyed()).as(seedMsg).isTrue();
        }
    }
}
