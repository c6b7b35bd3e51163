package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Behaviours 1, 6 and 7 in docs/srcu.md: synchronize waits for pre-existing readers (and only
 * for them), cannot be starved by new readers, is per domain, and survives interrupts.
 * Timeouts below are hang guards for liveness tests, not speed assertions.
 */
class SrcuSynchronizeTest {

    private static final long HANG_GUARD_SECONDS = 30;

    @Test
    void synchronize_waitsForPreExistingSleepingReader() throws Exception {
        assertWaitsForSleepingReader(false);
    }

    @Test
    void synchronizeExpedited_waitsForPreExistingSleepingReader() throws Exception {
        assertWaitsForSleepingReader(true);
    }

    private static void assertWaitsForSleepingReader(boolean expedited) throws Exception {
        try (Srcu srcu = new Srcu("sleepy")) {
            CountDownLatch entered = new CountDownLatch(1);
            AtomicLong readerExitNanos = new AtomicLong();
            Thread reader = new Thread(() -> {
                int idx = srcu.readLock();
                entered.countDown();
                sleep(200);
                readerExitNanos.set(System.nanoTime());
                srcu.readUnlock(idx);
            });
            reader.start();
            entered.await();
            long t0 = System.nanoTime();
            if (expedited) {
                srcu.synchronizeExpedited();
            } else {
                srcu.synchronize();
            }
            long returned = System.nanoTime();
            assertThat(TimeUnit.NANOSECONDS.toMillis(returned - t0))
                    .as("synchronize must wait for the sleeping pre-existing reader").isGreaterThanOrEqualTo(150);
            assertThat(readerExitNanos.get()).as("the reader had left before synchronize returned")
                    .isPositive().isLessThanOrEqualTo(returned);
            reader.join();
        }
    }

    @Test
    void synchronize_notStarvedByContinuousOverlappingReaders() throws Exception {
        try (Srcu srcu = new Srcu("overlap")) {
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> readers = new ArrayList<>();
            // Two readers whose sections overlap: at every moment at least one reader is inside.
            for (int r = 0; r < 2; r++) {
                Thread t = new Thread(() -> {
                    while (!stop.get()) {
                        int idx = srcu.readLock();
                        sleep(2);
                        srcu.readUnlock(idx);
                    }
                });
                readers.add(t);
                t.start();
            }
            sleep(20);
            CompletableFuture<Long> gps = CompletableFuture.supplyAsync(() -> {
                for (int i = 0; i < 20; i++) {
                    srcu.synchronize();
                }
                return srcu.gracePeriodsCompleted();
            });
            assertThat(gps.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS)).isGreaterThanOrEqualTo(20);
            stop.set(true);
            for (Thread t : readers) {
                t.join();
            }
        }
    }

    @Test
    void synchronize_doesNotWaitForReadersThatStartAfterIt() throws Exception {
        try (Srcu srcu = new Srcu("late-readers")) {
            CountDownLatch firstEntered = new CountDownLatch(1);
            CountDownLatch releaseFirst = new CountDownLatch(1);
            CountDownLatch lateEntered = new CountDownLatch(1);
            CountDownLatch releaseLate = new CountDownLatch(1);
            Thread early = new Thread(() -> {
                int idx = srcu.readLock();
                firstEntered.countDown();
                await(releaseFirst);
                srcu.readUnlock(idx);
            });
            early.start();
            firstEntered.await();
            CompletableFuture<Void> sync = CompletableFuture.runAsync(srcu::synchronize);
            sleep(50); // the grace period has flipped and now waits for the early reader
            Thread late = new Thread(() -> {
                int idx = srcu.readLock();
                lateEntered.countDown();
                await(releaseLate);
                srcu.readUnlock(idx);
            });
            late.start();
            lateEntered.await();
            assertThat(sync).as("the early reader blocks the grace period").isNotDone();
            releaseFirst.countDown();
            // Returns although the late reader is still inside its section.
            sync.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            assertThat(srcu.activeReaders()).as("the late reader is still inside").isEqualTo(1);
            releaseLate.countDown();
            early.join();
            late.join();
        }
    }

    @Test
    void domains_areIsolated_readerOfOneNeverDelaysAnother() throws Exception {
        try (Srcu a = new Srcu("domain-a"); Srcu b = new Srcu("domain-b")) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Thread holder = new Thread(() -> {
                int idx = a.readLock();
                entered.countDown();
                await(release);
                a.readUnlock(idx);
            });
            holder.start();
            entered.await();
            // Domain B has no reader: its grace periods complete while A's reader is still inside.
            CompletableFuture<Void> syncB = CompletableFuture.runAsync(() -> {
                b.synchronize();
                b.synchronizeExpedited();
            });
            syncB.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            // A synchronize on the same thread as a B reader is fine too: only same-domain is a deadlock.
            int idx = b.readLock();
            CompletableFuture<Void> syncA = CompletableFuture.runAsync(a::synchronize);
            sleep(50);
            assertThat(syncA).as("A's grace period still waits for A's reader").isNotDone();
            b.readUnlock(idx);
            release.countDown();
            syncA.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            holder.join();
        }
    }

    @Test
    void synchronize_interrupted_stillWaitsAndKeepsInterruptStatus() throws Exception {
        try (Srcu srcu = new Srcu("interrupt")) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean readerInside = new AtomicBoolean();
            Thread reader = new Thread(() -> {
                int idx = srcu.readLock();
                readerInside.set(true);
                entered.countDown();
                await(release);
                readerInside.set(false);
                srcu.readUnlock(idx);
            });
            reader.start();
            entered.await();
            AtomicReference<Boolean> insideWhenReturned = new AtomicReference<>();
            AtomicBoolean interruptedAfter = new AtomicBoolean();
            Thread syncer = new Thread(() -> {
                srcu.synchronize();
                insideWhenReturned.set(readerInside.get());
                interruptedAfter.set(Thread.currentThread().isInterrupted());
            });
            syncer.start();
            sleep(100); // let it reach the parking phase of the wait
            syncer.interrupt();
            sleep(100);
            assertThat(syncer.isAlive()).as("an interrupt must not cut the grace period short").isTrue();
            release.countDown();
            syncer.join(TimeUnit.SECONDS.toMillis(HANG_GUARD_SECONDS));
            assertThat(insideWhenReturned.get()).as("returned only after the reader left").isFalse();
            assertThat(interruptedAfter.get()).as("interrupt status kept").isTrue();
            reader.join();
        }
    }

    @Test
    void downRead_upReadOnAnotherThread_isWaitedFor() throws Exception {
        try (Srcu srcu = new Srcu("updown")) {
            int idx = srcu.downRead();
            assertThat(srcu.readLockHeld()).as("down/up sections are not per-thread holds").isFalse();
            CompletableFuture<Void> sync = CompletableFuture.runAsync(srcu::synchronize);
            sleep(50);
            assertThat(sync).isNotDone();
            Thread other = new Thread(() -> srcu.upRead(idx));
            other.start();
            other.join();
            sync.get(HANG_GUARD_SECONDS, TimeUnit.SECONDS);
            assertThat(srcu.activeReaders()).isZero();
        }
    }

    @Test
    void readLock_nests_andReadLockHeldTracksTheOutermost() {
        try (Srcu srcu = new Srcu("nest")) {
            assertThat(srcu.readLockHeld()).isFalse();
            int outer = srcu.readLock();
            int inner = srcu.readLock();
            assertThat(srcu.readLockHeld()).isTrue();
            assertThat(srcu.activeReaders()).isEqualTo(2);
            srcu.readUnlock(inner);
            assertThat(srcu.readLockHeld()).isTrue();
            srcu.readUnlock(outer);
            assertThat(srcu.readLockHeld()).isFalse();
            assertThat(srcu.activeReaders()).isZero();
        }
    }

    @Test
    void readSectionsOnIndexOne_nestAndAreTrackedLikeThoseOnIndexZero() {
        try (Srcu srcu = new Srcu("index-one")) {
            srcu.synchronize(); // one flip: new readers now count on index 1
            int outer = srcu.readLock();
            int inner = srcu.readLock();
            assertThat(new int[] {outer, inner}).containsExactly(1, 1);
            assertThat(srcu.readLockHeld()).isTrue();
            assertThat(srcu.activeReaders()).isEqualTo(2);
            assertThatThrownBy(srcu::synchronize).hasMessageContaining("deadlock");
            srcu.readUnlock(inner);
            assertThat(srcu.readLockHeld()).as("the outer section is still open").isTrue();
            srcu.readUnlock(outer);
            assertThat(srcu.readLockHeld()).isFalse();
            assertThatThrownBy(() -> srcu.readUnlock(1)).as("a third unlock")
                    .hasMessageContaining("holds no read section with index 1");
            assertThat(srcu.activeReaders()).isZero();
        }
    }

    @Test
    void downRead_countsOnTheIndexNewReadersUse_andReturnsIt() {
        try (Srcu srcu = new Srcu("down-index")) {
            for (int expected : new int[] {0, 1, 0}) { // the index flips once per grace period
                int idx = srcu.downRead();
                assertThat(idx).isEqualTo(expected);
                int r = srcu.readLock();
                assertThat(r).as("readLock counts on the same index").isEqualTo(expected);
                srcu.readUnlock(r);
                srcu.upRead(idx); // accepted: the downRead was counted under the index it returned
                assertThat(srcu.activeReaders()).isZero();
                srcu.synchronize();
            }
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
