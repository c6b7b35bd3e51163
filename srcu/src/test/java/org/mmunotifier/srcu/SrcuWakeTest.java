package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
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
}
