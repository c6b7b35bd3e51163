package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Seeded stress of insert, remove and the read protocol against concurrent invalidations
 * (blockable and not), with and without a list notifier. At the end every subscription is
 * removed, the mm's counts are back, the interval state is idle, and no callback reached a
 * subscription after its remove had returned.
 */
class IntervalStressTest extends NotifierTestBase {
    private static final long PAGE = 0x1000;
    private static final int PAGES = 64;
    private static final int DRIVERS = 2;
    private static final int OPS_PER_DRIVER = 3000;
    private static final int MIN_INVALIDATIONS = 2000;

    /** A driver's subscription with its own user lock. */
    static final class Sub extends IntervalSub {
        final ReentrantLock userLock = new ReentrantLock();

        Sub(String name) {
            super(name);
        }
    }

    static final MmuIntervalNotifierOps OPS = (s, range, curSeq) -> {
        Sub sub = (Sub) s;
        if (sub.removeReturned) {
            sub.violation("invalidate after remove returned: " + range);
        }
        if (range.blockable()) {
            sub.userLock.lock();
        } else if (!sub.userLock.tryLock()) {
            return false;
        }
        try {
            sub.calls.incrementAndGet();
            sub.setSeq(curSeq);
        } finally {
            sub.userLock.unlock();
        }
        return true;
    };

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {11, 12, 13, 14, 15, 16})
    void insertRemoveAndReads_againstInvalidations_leaveNothingBehind(long seed) throws Exception {
        MmStruct mm = new MmStruct();
        Recorder listNotifier = null;
        if ((seed & 1) == 1) {
            listNotifier = track(new Recorder("list", new Recorder.Ops("list")));
            MmuNotifiers.register(listNotifier, mm);
        }
        int countBefore = mm.count();
        List<Sub> all = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean done = new AtomicBoolean();
        AtomicInteger invalidations = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        AtomicInteger retries = new AtomicInteger();

        java.util.concurrent.CountDownLatch invalidating = new java.util.concurrent.CountDownLatch(1);
        Worker invalidator = new Worker("invalidator", () -> {
            SplittableRandom r = new SplittableRandom(seed * 31);
            invalidating.countDown();
            // At least MIN_INVALIDATIONS, however fast the drivers are (on 2 cores the drivers can
            // finish before this thread is scheduled at all).
            while (!done.get() || invalidations.get() < MIN_INVALIDATIONS) {
                long a = r.nextInt(PAGES) * PAGE;
                long b = a + (1 + r.nextInt(8)) * PAGE;
                boolean blockable = r.nextInt(4) != 0;
                MmuNotifierRange range = new MmuNotifierRange(mm, a, b, MmuNotifierEvent.CLEAR, blockable);
                if (blockable) {
                    PrimaryMmu.invalidateRangeStart(range);
                } else if (!PrimaryMmu.invalidateRangeStartNonblock(range)) {
                    refused.incrementAndGet();
                    continue;
                }
                if (r.nextInt(8) == 0) {
                    Thread.yield(); // let inserts and removes meet an open invalidation
                }
                PrimaryMmu.invalidateRangeEnd(range);
                invalidations.incrementAndGet();
            }
        });
        List<Worker> drivers = new ArrayList<>();
        for (int d = 0; d < DRIVERS; d++) {
            int id = d;
            drivers.add(new Worker("driver-" + d, () -> {
                invalidating.await(); // start together with the invalidator
                SplittableRandom r = new SplittableRandom(seed * 1000 + id);
                List<Sub> mine = new ArrayList<>();
                for (int op = 0; op < OPS_PER_DRIVER; op++) {
                    int kind = r.nextInt(10);
                    if (kind < 3 || mine.isEmpty()) {
                        Sub s = new Sub("d" + id + "#" + op);
                        long start = r.nextInt(PAGES) * PAGE;
                        MmuNotifiers.insertInterval(s, mm, start, (1 + r.nextInt(4)) * PAGE, OPS);
                        mine.add(s);
                        all.add(s);
                    } else if (kind < 5) {
                        mine.remove(r.nextInt(mine.size())).removeAndMark();
                    } else {
                        Sub s = mine.get(r.nextInt(mine.size()));
                        long seq = s.readBegin();
                        assertThat(seq & 1).isEqualTo(1);
                        s.userLock.lock();
                        try {
                            if (s.readRetry(seq)) {
                                retries.incrementAndGet();
                            }
                        } finally {
                            s.userLock.unlock();
                        }
                    }
                }
                for (Sub s : mine) {
                    s.removeAndMark();
                }
            }));
        }
        for (Worker w : drivers) {
            w.joinChecked();
        }
        done.set(true);
        invalidator.joinChecked();

        Itree it = IntervalSub.itree(mm);
        synchronized (it) {
            assertThat(it.active).isZero();
            assertThat(it.invalidateSeq & 1).as("idle: even").isZero();
            assertThat(it.tree.size()).isZero();
            assertThat(it.deferred).isEmpty();
        }
        for (Sub s : all) {
            assertThat(s.violationsSnapshot()).as("violations of %s", s).isEmpty();
            assertThat(s.state()).isEqualTo(MmuIntervalNotifier.REMOVED);
        }
        assertThat(mm.count()).as("every subscription's reference dropped").isEqualTo(countBefore);
        assertThat(invalidations.get()).isGreaterThanOrEqualTo(MIN_INVALIDATIONS);
        if (listNotifier != null) {
            assertThat(listNotifier.open.get()).isZero();
            MmuNotifiers.unregister(listNotifier, mm);
        }
        mm.mmput();
        assertThat(mm.isDestroyed()).isTrue();
    }
}
