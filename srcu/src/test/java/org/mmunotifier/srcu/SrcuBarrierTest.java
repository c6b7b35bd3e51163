package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mmunotifier.srcu.SrcuSynchronizeTest.await;
import static org.mmunotifier.srcu.SrcuSynchronizeTest.sleep;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Behaviour 4 in docs/srcu.md: barrier waits for callbacks queued before it, and only those. */
class SrcuBarrierTest {

    @Test
    void barrier_waitsForEveryCallbackQueuedBeforeIt_fromManyThreads() throws Exception {
        // rcutorture's "rtbe" check: N threads each post callbacks; barrier returns after all ran.
        try (Srcu srcu = new Srcu("barrier-all")) {
            for (int round = 0; round < 20; round++) {
                AtomicLong invoked = new AtomicLong();
                List<Thread> posters = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    posters.add(new Thread(() -> {
                        for (int i = 0; i < 100; i++) {
                            srcu.callSrcu(() -> {
                                sleepNanos();
                                invoked.incrementAndGet();
                            });
                        }
                    }));
                }
                for (Thread t : posters) {
                    t.start();
                }
                for (Thread t : posters) {
                    t.join();
                }
                srcu.barrier();
                assertThat(invoked.get()).as("round %d", round).isEqualTo(400);
            }
        }
    }

    @Test
    void barrier_withNothingQueued_returnsAtOnce_withoutAGracePeriod() {
        try (Srcu srcu = new Srcu("barrier-empty")) {
            long gp = srcu.gracePeriodsCompleted();
            // A reader is inside: if barrier forced a grace period it would hang here.
            int idx = srcu.downRead();
            srcu.barrier();
            srcu.upRead(idx);
            assertThat(srcu.gracePeriodsCompleted()).isEqualTo(gp);
        }
    }

    @Test
    void barrier_doesNotWaitForCallbacksQueuedAfterIt() throws Exception {
        try (Srcu srcu = new Srcu("barrier-later")) {
            CountDownLatch firstRunning = new CountDownLatch(1);
            CountDownLatch releaseFirst = new CountDownLatch(1);
            CountDownLatch releaseLater = new CountDownLatch(1);
            AtomicLong firstDone = new AtomicLong();
            srcu.callSrcu(() -> {
                firstRunning.countDown();
                await(releaseFirst);
                firstDone.set(1);
            });
            // The first callback's batch is already running, so the later callback lands in a
            // batch of its own (the next test shares the batch).
            firstRunning.await();
            Thread barrierThread = new Thread(srcu::barrier, "barrier-caller");
            barrierThread.start();
            waitUntilWaiting(barrierThread); // it has read its target and sleeps
            srcu.callSrcu(() -> await(releaseLater)); // queued after the barrier began; blocks
            releaseFirst.countDown();
            barrierThread.join(TimeUnit.SECONDS.toMillis(10)); // a hang guard
            assertThat(barrierThread.isAlive()).as("barrier returned although a later callback is blocked")
                    .isFalse();
            assertThat(firstDone.get()).isEqualTo(1);
            assertThat(srcu.pendingCallbacks()).isEqualTo(1);
            releaseLater.countDown();
            srcu.barrier();
        }
    }

    @Test
    void barrier_doesNotWaitForALaterCallbackInTheSameBatch() throws Exception {
        try (Srcu srcu = new Srcu("barrier-same-batch")) {
            CountDownLatch blockerRunning = new CountDownLatch(1);
            CountDownLatch releaseBlocker = new CountDownLatch(1);
            CountDownLatch releaseLater = new CountDownLatch(1);
            AtomicLong targetDone = new AtomicLong();
            srcu.callSrcu(() -> {
                blockerRunning.countDown();
                await(releaseBlocker);
            });
            blockerRunning.await(); // the driver runs the blocker inline: it cannot grab more yet
            srcu.callSrcu(() -> targetDone.set(1)); // the barrier's last callback
            Thread barrierThread = new Thread(srcu::barrier, "barrier-caller");
            barrierThread.start();
            waitUntilWaiting(barrierThread);
            srcu.callSrcu(() -> await(releaseLater)); // after the barrier began; same next batch
            releaseBlocker.countDown(); // the driver now grabs {target, later} as one batch
            barrierThread.join(TimeUnit.SECONDS.toMillis(10)); // a hang guard
            assertThat(barrierThread.isAlive()).as("barrier still waits for a callback queued after it, "
                    + "because it shares a batch with the barrier's last one").isFalse();
            assertThat(targetDone.get()).isEqualTo(1);
            assertThat(srcu.pendingCallbacks()).isEqualTo(1);
            releaseLater.countDown();
            srcu.barrier();
        }
    }

    /**
     * The same, with the barrier certainly waiting when its last callback ends: that callback
     * blocks until the barrier has gone back to waiting, so only the wake that follows the
     * callback (not the end of the batch before) can let the barrier return while the later
     * callback of the same batch still runs.
     */
    @Test
    void barrier_isWokenByItsLastCallback_notByTheEndOfItsBatch() throws Exception {
        try (Srcu srcu = new Srcu("barrier-woken-per-callback")) {
            CountDownLatch blockerRunning = new CountDownLatch(1);
            CountDownLatch releaseBlocker = new CountDownLatch(1);
            CountDownLatch targetRunning = new CountDownLatch(1);
            CountDownLatch releaseTarget = new CountDownLatch(1);
            CountDownLatch releaseLater = new CountDownLatch(1);
            srcu.callSrcu(() -> {
                blockerRunning.countDown();
                await(releaseBlocker);
            });
            blockerRunning.await();
            srcu.callSrcu(() -> { // the barrier's last callback
                targetRunning.countDown();
                await(releaseTarget);
            });
            Thread barrierThread = new Thread(srcu::barrier, "barrier-caller");
            barrierThread.start();
            waitUntilWaiting(barrierThread);
            srcu.callSrcu(() -> await(releaseLater)); // after the barrier began; same next batch
            releaseBlocker.countDown(); // the first batch ends (and wakes the barrier once)
            try {
                assertThat(targetRunning.await(10, TimeUnit.SECONDS)).isTrue();
                waitUntilWaiting(barrierThread); // waiting again: the first batch's wake has passed
                releaseTarget.countDown();
                barrierThread.join(TimeUnit.SECONDS.toMillis(10));
                assertThat(barrierThread.isAlive()).as("barrier woken when its last callback ended, "
                        + "while the later callback of its batch still runs").isFalse();
                assertThat(srcu.pendingCallbacks()).isEqualTo(1);
            } finally {
                releaseTarget.countDown();
                releaseLater.countDown();
            }
            srcu.barrier();
        }
    }

    @Test
    void barrier_interrupted_stillWaitsAndKeepsInterruptStatus() throws Exception {
        try (Srcu srcu = new Srcu("barrier-interrupt")) {
            CountDownLatch release = new CountDownLatch(1);
            srcu.callSrcu(() -> await(release));
            CompletableFuture<Boolean> interruptedAfter = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                srcu.barrier();
                interruptedAfter.complete(Thread.currentThread().isInterrupted());
            });
            t.start();
            waitUntilWaiting(t);
            t.interrupt();
            sleep(100);
            assertThat(interruptedAfter).as("an interrupt does not end the barrier early").isNotDone();
            release.countDown();
            assertThat(interruptedAfter.get(30, TimeUnit.SECONDS)).isTrue();
        }
    }

    private static void waitUntilWaiting(Thread t) throws InterruptedException {
        for (int i = 0; i < 30_000 && t.getState() != Thread.State.WAITING; i++) {
            Thread.sleep(1);
        }
        assertThat(t.getState()).isEqualTo(Thread.State.WAITING);
    }

    private static void sleepNanos() {
        long end = System.nanoTime() + 1_000;
        while (System.nanoTime() < end) {
            Thread.onSpinWait();
        }
    }
}
