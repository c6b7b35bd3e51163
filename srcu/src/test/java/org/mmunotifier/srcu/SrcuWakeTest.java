package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Behaviour 10 in docs/srcu.md: an updater that parks waiting for readers is woken by an unlock
 * (Tiny SRCU's wake when the last reader leaves), not by its backoff timer. Made visible without
 * timing anything: the tests set the backstop park to an hour, so that the updater can return
 * only if the unlock woke it.
 */
class SrcuWakeTest {

    /** Starts synchronize() on a new thread and waits until it is parked as the domain's waiter. */
    private static Thread parkedUpdater(Srcu srcu) throws InterruptedException {
        srcu.setBackstopParkNanos(TimeUnit.HOURS.toNanos(1));
        Thread updater = new Thread(srcu::synchronize, "updater");
        updater.start();
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (srcu.gracePeriodWaiter() != updater || updater.getState() != Thread.State.TIMED_WAITING) {
            assertThat(System.nanoTime() - giveUp).as("the updater parks as the waiter").isNegative();
            Thread.sleep(1);
        }
        return updater;
    }

    @Test
    void readUnlock_wakesTheParkedUpdater_clearingTheWaiterBeforeItReturns() throws Exception {
        try (Srcu srcu = new Srcu("wake-unlock")) {
            int idx = srcu.readLock();
            Thread updater = parkedUpdater(srcu);
            srcu.readUnlock(idx);
            assertThat(srcu.gracePeriodWaiter()).as("cleared by this unlock, which unparked the updater").isNull();
            updater.join(TimeUnit.SECONDS.toMillis(20));
            assertThat(updater.isAlive()).isFalse();
        }
    }

    @Test
    void upRead_onAnotherThread_wakesTheParkedUpdater() throws Exception {
        try (Srcu srcu = new Srcu("wake-upread")) {
            int idx = srcu.downRead();
            Thread updater = parkedUpdater(srcu);
            Thread other = new Thread(() -> srcu.upRead(idx), "up");
            other.start();
            other.join();
            assertThat(srcu.gracePeriodWaiter()).isNull();
            updater.join(TimeUnit.SECONDS.toMillis(20));
            assertThat(updater.isAlive()).isFalse();
        }
    }

    @Test
    void withNoUpdaterWaiting_anUnlockFindsNoWaiter_andWakesNobody() {
        try (Srcu srcu = new Srcu("wake-idle")) {
            int idx = srcu.readLock();
            srcu.readUnlock(idx);
            assertThat(srcu.gracePeriodWaiter()).isNull();
            srcu.synchronize(); // no reader: no park, no waiter left behind
            assertThat(srcu.gracePeriodWaiter()).isNull();
        }
    }

    /**
     * A grace period whose waiting ends on a scan that had named the updater the waiter (no
     * unlock cleared it) takes its name back before it returns: a waiter left behind would be
     * unparked by some later unlock while doing something else.
     */
    @Test
    void aWaitThatEndsOnAParkingScan_leavesNoWaiterBehind() throws Exception {
        // Busy for the 32 retries that do not park and the first that does; gone at the next.
        SrcuWaitPolicyTest.ScriptedCounters counters = new SrcuWaitPolicyTest.ScriptedCounters(33, false);
        Srcu srcu = BrokenCounters.domain("wake-last-scan", counters);
        Thread updater = new Thread(srcu::synchronize, "updater");
        updater.start();
        updater.join(TimeUnit.SECONDS.toMillis(20));
        assertThat(updater.isAlive()).isFalse();
        assertThat(counters.scans).as("the wait ended on its second parking scan").hasValue(35);
        assertThat(srcu.gracePeriodWaiter()).isNull();
    }

    /**
     * A parked grace period that an expedited caller makes stop parking (its waits then spin and
     * yield) clears its name as the waiter after each park, so when it ends on a scan that did not
     * park, nothing is left behind either.
     */
    @Test
    void aParkedWaitThatAnExpeditedCallerSpeedsUp_leavesNoWaiterBehind() throws Exception {
        AtomicBoolean released = new AtomicBoolean();
        AtomicInteger scansAfterRelease = new AtomicInteger();
        ReaderCounters counters = new ReaderCounters(1) {
            @Override
            boolean readersGone(int idx) {
                // Busy until released, and for the first scan after: the scan that ends the wait
                // then belongs to a retry that began after the expedited caller was counted.
                return released.get() && scansAfterRelease.incrementAndGet() > 1;
            }
        };
        Srcu srcu = BrokenCounters.domain("wake-expedited", counters);
        Thread updater = new Thread(srcu::synchronize, "updater");
        updater.start();
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (srcu.gracePeriodWaiter() != updater) {
            assertThat(System.nanoTime() - giveUp).as("the updater parks as the waiter").isNegative();
            Thread.sleep(1);
        }
        Thread expedited = new Thread(srcu::synchronizeExpedited, "expedited");
        expedited.start();
        while (expedited.getState() != Thread.State.WAITING) { // counted, and queued on the grace-period lock
            assertThat(System.nanoTime() - giveUp).as("the expedited caller queues").isNegative();
            Thread.sleep(1);
        }
        released.set(true);
        updater.join(TimeUnit.SECONDS.toMillis(20));
        expedited.join(TimeUnit.SECONDS.toMillis(20));
        assertThat(updater.isAlive()).isFalse();
        assertThat(expedited.isAlive()).isFalse();
        assertThat(srcu.gracePeriodWaiter()).isNull();
    }
}
