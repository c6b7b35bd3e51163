package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * The waiting policy of a grace period (docs/srcu.md, "Waiting policy"): a failed scan is retried
 * 32 times without blocking (spin, then yield), then with {@code parkNanos} backing off to 1 ms;
 * an expedited grace period never parks; interrupts do not cut the wait short and are not
 * invented.
 *
 * <p>Parking is made visible without timing anything. {@code LockSupport.parkNanos} returns at
 * once, and the waiter's {@code Thread.interrupted()} then clears the status, only on a retry that
 * parks; spinning and yielding leave the status alone. So a scan that sets the interrupt status of
 * the waiting thread and, at the next scan, finds it still set knows that the retry in between did
 * not park.
 */
class SrcuWaitPolicyTest {

    /** Retries the policy allows before the first park. */
    private static final int RETRIES_BEFORE_PARKING = 32;
    /** Scans that report readers: enough to see eight parking retries after the 32 others. */
    private static final int BUSY_SCANS = RETRIES_BEFORE_PARKING + 8;

    /**
     * Counters whose scan reports readers for its first {@code busyScans} calls, then none. With
     * {@code probeParking}, each scan records whether the waiting thread's interrupt status was
     * still set, then sets it again.
     */
    static final class ScriptedCounters extends ReaderCounters {
        private final long busyScans;
        private final boolean probeParking;
        final List<Boolean> statusStillSet = Collections.synchronizedList(new ArrayList<>());
        final AtomicLong scans = new AtomicLong();

        ScriptedCounters(long busyScans, boolean probeParking) {
            super(1);
            this.busyScans = busyScans;
            this.probeParking = probeParking;
        }

        @Override
        boolean readersGone(int idx) {
            if (probeParking) {
                statusStillSet.add(Thread.currentThread().isInterrupted());
                Thread.currentThread().interrupt();
            }
            return scans.incrementAndGet() > busyScans;
        }
    }

    /** Runs {@code wait} on a new thread and returns its interrupt status after the call. */
    private static boolean runOnNewThread(Runnable wait) throws InterruptedException {
        AtomicBoolean interruptedAfter = new AtomicBoolean();
        Thread t = new Thread(() -> {
            wait.run();
            interruptedAfter.set(Thread.interrupted());
        }, "waiter");
        t.start();
        t.join();
        return interruptedAfter.get();
    }

    @Test
    void normalGracePeriod_retries32TimesWithoutParking_thenParks() throws Exception {
        ScriptedCounters counters = new ScriptedCounters(BUSY_SCANS, true);
        Srcu srcu = BrokenCounters.domain("policy-normal", counters);
        runOnNewThread(srcu::synchronize);
        // Scan k (k >= 1) follows retry k-1: retries 0..31 must not park, retries 32.. must.
        List<Boolean> expected = new ArrayList<>(Collections.nCopies(RETRIES_BEFORE_PARKING, true));
        expected.addAll(Collections.nCopies(BUSY_SCANS - RETRIES_BEFORE_PARKING, false));
        assertThat(counters.statusStillSet.subList(1, BUSY_SCANS + 1)).isEqualTo(expected);
        srcu.close();
    }

    @Test
    void expeditedGracePeriod_neverParks() throws Exception {
        ScriptedCounters counters = new ScriptedCounters(BUSY_SCANS, true);
        Srcu srcu = BrokenCounters.domain("policy-expedited", counters);
        runOnNewThread(srcu::synchronizeExpedited);
        assertThat(counters.statusStillSet.subList(1, BUSY_SCANS + 1)).containsOnly(true);
        srcu.close();
    }

    @Test
    void parkingWait_withoutAnInterrupt_returnsWithTheInterruptStatusClear() throws Exception {
        Srcu srcu = BrokenCounters.domain("policy-no-interrupt", new ScriptedCounters(BUSY_SCANS, false));
        assertThat(runOnNewThread(srcu::synchronize)).as("interrupt status after a wait that parked").isFalse();
        srcu.close();
    }

    @Test
    void longWait_staysParkedOnTheDomain_afterTheBackoffHasGrown() throws Exception {
        AtomicBoolean readerInside = new AtomicBoolean(true);
        AtomicLong scans = new AtomicLong();
        Srcu srcu = BrokenCounters.domain("policy-long", new ReaderCounters(1) {
            @Override
            boolean readersGone(int idx) {
                scans.incrementAndGet();
                return !readerInside.get();
            }
        });
        Thread waiter = new Thread(srcu::synchronize, "long-waiter");
        waiter.start();
        // Well past the first park: the backoff has doubled several times (50 us .. 1 ms).
        for (int i = 0; scans.get() < 4 * RETRIES_BEFORE_PARKING; i++) {
            if (i == 10_000) {
                fail("the waiter made only %d scans", scans.get());
            }
            Thread.sleep(1);
        }
        awaitParkedOn(srcu, waiter);
        readerInside.set(false);
        waiter.join();
        srcu.close();
    }

    /**
     * The parks back off: 50 us, doubled on each parking retry up to 1 ms. The first 15 parks
     * therefore ask for 50 + 100 + 200 + 400 + 800 + 10 x 1000 us = 11.55 ms in all; without the
     * doubling they would ask for 15 x 50 us = 0.75 ms. Nothing unparks or interrupts the waiter
     * here, but {@code parkNanos} may still return early by its contract (spuriously), each such
     * return shortening the total by at most one park (1 ms); the bound asked for, half of
     * 11.55 ms, leaves room for five of them and is still eight times what no doubling asks for.
     */
    @Test
    void parkingRetries_doubleTheirPark_upTo1ms() throws Exception {
        int parks = 15;
        long[] scanTimes = new long[RETRIES_BEFORE_PARKING + parks + 2];
        AtomicLong scans = new AtomicLong();
        Srcu srcu = BrokenCounters.domain("policy-backoff", new ReaderCounters(1) {
            @Override
            boolean readersGone(int idx) {
                int n = (int) scans.incrementAndGet(); // scan n follows retry n - 2
                if (n < scanTimes.length) {
                    scanTimes[n] = System.nanoTime();
                }
                return n > RETRIES_BEFORE_PARKING + parks;
            }
        });
        runOnNewThread(srcu::synchronize);
        // Scan 33 is the one before the first park (retry 32); scan 48 follows the 15th.
        long parked = scanTimes[RETRIES_BEFORE_PARKING + 1 + parks] - scanTimes[RETRIES_BEFORE_PARKING + 1];
        assertThat(parked).as("nanoseconds parked over the first %d parks", parks)
                .isGreaterThanOrEqualTo(11_550_000L / 2);
        srcu.close();
    }

    /**
     * Waits (polling, at most about 10 s: a hang guard) until {@code t} is parked with
     * {@code blocker} as its blocker, as a grace period's wait parks on its domain.
     */
    static void awaitParkedOn(Object blocker, Thread t) throws InterruptedException {
        for (int i = 0; i < 10_000; i++) {
            if (t.getState() == Thread.State.TIMED_WAITING && LockSupport.getBlocker(t) == blocker) {
                return;
            }
            Thread.sleep(1);
        }
        fail("%s never parked on %s (state %s)", t.getName(), blocker, t.getState());
    }
}
