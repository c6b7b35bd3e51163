package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;

/**
 * I-11: the usage pattern of Linux's {@code lib/test_hmm.c} (the dmirror driver), on a small
 * mirror of a few pages: invalidate takes the driver's lock (a trylock that refuses when the
 * range is not blockable), calls setSeq and zaps; the fault path is the readBegin, snapshot,
 * lock, readRetry, install loop, bounded in time; a snapshot takes a temporary subscription.
 * (test_hmm also skips MIGRATE events that its own device started, by the range's owner: the
 * owner field was added to the range after 5.5, and this port's ranges do not have it.)
 */
class IntervalDriverPatternTest extends NotifierTestBase {
    static final long PAGE = 0x1000;

    /** The primary page table (one value per page) and the code that changes it. */
    static final class Primary {
        final MmStruct mm = new MmStruct();
        final AtomicLongArray pages = new AtomicLongArray(16);

        /** A CPU write: invalidate, change, end (what the kernel does around a PTE change). */
        void write(int page, long value) {
            MmuNotifierRange r = new MmuNotifierRange(mm, page * PAGE, (page + 1) * PAGE, MmuNotifierEvent.CLEAR);
            PrimaryMmu.invalidateRangeStart(r);
            pages.set(page, value);
            PrimaryMmu.invalidateRangeEnd(r);
        }
    }

    /** The driver: a device page table mirroring part of the primary. */
    static final class Dmirror {
        final Primary primary;
        final ReentrantLock userLock = new ReentrantLock();
        final Map<Integer, Long> device = new HashMap<>(); // guarded by userLock
        final MmuIntervalNotifier sub;
        int retries;
        int refusals;

        Dmirror(Primary primary) {
            this.primary = primary;
            this.sub = MmuNotifiers.insertInterval(primary.mm, 0, 16 * PAGE, this::invalidate);
        }

        boolean invalidate(MmuIntervalNotifier s, MmuNotifierRange range, long curSeq) {
            if (range.blockable()) {
                userLock.lock();
            } else if (!userLock.tryLock()) {
                refusals++;
                return false;
            }
            try {
                s.setSeq(curSeq);
                device.keySet().removeIf(p -> p * PAGE < range.end() && (p + 1) * PAGE > range.start());
            } finally {
                userLock.unlock();
            }
            return true;
        }

        /** The fault loop, given up after {@code timeoutNanos} (HMM_RANGE_DEFAULT_TIMEOUT's role). */
        boolean fault(int page, Runnable afterSnapshot, long timeoutNanos) {
            long deadline = System.nanoTime() + timeoutNanos;
            while (System.nanoTime() - deadline < 0) {
                long seq = sub.readBegin();
                primary.mm.mmapReadLock();
                long snapshot;
                try {
                    snapshot = primary.pages.get(page); // hmm_range_fault's role
                } finally {
                    primary.mm.mmapReadUnlock();
                }
                afterSnapshot.run();
                userLock.lock();
                try {
                    if (sub.readRetry(seq)) {
                        retries++;
                        continue;
                    }
                    device.put(page, snapshot);
                    return true;
                } finally {
                    userLock.unlock();
                }
            }
            return false;
        }

        Long deviceValue(int page) {
            userLock.lock();
            try {
                return device.get(page);
            } finally {
                userLock.unlock();
            }
        }
    }

    @Test
    void I11_anInvalidationBetweenTheSnapshotAndTheLock_makesTheFaultRetry_soNoStaleValueIsInstalled() {
        Primary primary = new Primary();
        primary.pages.set(3, 30);
        Dmirror d = new Dmirror(primary);
        boolean[] once = {true};
        assertThat(d.fault(3, () -> {
            if (once[0]) { // the CPU changes the page after the device's snapshot
                once[0] = false;
                primary.write(3, 31);
            }
        }, 1_000_000_000L)).isTrue();
        assertThat(d.retries).isEqualTo(1);
        assertThat(d.deviceValue(3)).isEqualTo(31);
        primary.write(3, 32); // zaps the device entry
        assertThat(d.deviceValue(3)).isNull();
        assertThat(d.fault(3, () -> { }, 1_000_000_000L)).isTrue();
        assertThat(d.deviceValue(3)).isEqualTo(32);
        d.sub.remove();
        primary.mm.mmput();
    }

    @Test
    void I11_invalidateRefuses_onlyWhenNonBlockable_andTheDriverLockIsTaken() throws Exception {
        Primary primary = new Primary();
        Dmirror d = new Dmirror(primary);
        assertThat(d.fault(1, () -> { }, 1_000_000_000L)).isTrue();
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = gate();
        Worker holder = new Worker("fault path", () -> {
            d.userLock.lock();
            try {
                held.countDown();
                release.await();
            } finally {
                d.userLock.unlock();
            }
        });
        held.await();
        MmuNotifierRange oom = new MmuNotifierRange(primary.mm, 0, 16 * PAGE, MmuNotifierEvent.UNMAP, false);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(oom)).isFalse();
        assertThat(d.refusals).isEqualTo(1);
        assertThat(IntervalSub.itree(primary.mm).active).isZero();
        release.countDown();
        holder.joinChecked();
        assertThat(d.deviceValue(1)).as("nothing was zapped").isZero();
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(oom)).as("the lock is free now").isTrue();
        PrimaryMmu.invalidateRangeEnd(oom);
        assertThat(d.deviceValue(1)).isNull();
        d.sub.remove();
        primary.mm.mmput();
    }

    @Test
    void I11_theFaultLoop_givesUpAfterItsTimeout_whileInvalidationsKeepComing() {
        Primary primary = new Primary();
        Dmirror d = new Dmirror(primary);
        int[] n = {0};
        assertThat(d.fault(2, () -> primary.write(2, ++n[0]), 20_000_000L)).isFalse();
        assertThat(d.retries).isPositive();
        assertThat(d.deviceValue(2)).isNull();
        d.sub.remove();
        primary.mm.mmput();
    }

    @Test
    void I11_aSnapshotTakesATemporarySubscriptionPerChunk_andRemovesIt_onSuccessAndOnError() {
        Primary primary = new Primary();
        for (int p = 0; p < 16; p++) {
            primary.pages.set(p, 100 + p);
        }
        long[] out = new long[16];
        for (int chunk = 0; chunk < 4; chunk++) {
            snapshotChunk(primary, chunk, out, false);
        }
        assertThat(out[15]).isEqualTo(115);
        assertThatThrownBy(() -> snapshotChunk(primary, 1, out, true)).hasMessage("device error");
        assertThat(primary.mm.count()).as("every temporary subscription was removed").isEqualTo(1);
        assertThat(IntervalSub.itree(primary.mm).tree.size()).isZero();
        primary.mm.mmput();
    }

    /** dmirror_snapshot's shape: a temporary interval notifier around one chunk. */
    private static void snapshotChunk(Primary primary, int chunk, long[] out, boolean fail) {
        ReentrantLock lock = new ReentrantLock();
        MmuIntervalNotifier tmp = MmuNotifiers.insertInterval(primary.mm, chunk * 4 * PAGE, 4 * PAGE, (s, r, seq) -> {
            lock.lock();
            try {
                s.setSeq(seq);
            } finally {
                lock.unlock();
            }
            return true;
        });
        try {
            while (true) {
                long seq = tmp.readBegin();
                long[] copy = new long[4];
                for (int i = 0; i < 4; i++) {
                    copy[i] = primary.pages.get(chunk * 4 + i);
                }
                if (fail) {
                    throw new IllegalStateException("device error");
                }
                lock.lock();
                try {
                    if (tmp.readRetry(seq)) {
                        continue;
                    }
                    System.arraycopy(copy, 0, out, chunk * 4, 4);
                    return;
                } finally {
                    lock.unlock();
                }
            }
        } finally {
            tmp.remove();
        }
    }
}
