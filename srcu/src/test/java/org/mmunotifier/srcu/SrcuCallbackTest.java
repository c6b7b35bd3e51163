package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mmunotifier.srcu.SrcuSynchronizeTest.await;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Behaviour 3 in docs/srcu.md: callSrcu runs each callback once, after a grace period. */
class SrcuCallbackTest {

    @Test
    void callSrcu_runsEachCallbackExactlyOnce_notOnTheCallersThread() throws Exception {
        int producers = 2;
        int perProducer = 20_000;
        AtomicIntegerArray runs = new AtomicIntegerArray(producers * perProducer);
        Set<Thread> producerThreads = ConcurrentHashMap.newKeySet();
        AtomicLong onProducerThread = new AtomicLong();
        try (Srcu srcu = new Srcu("exactly-once")) {
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                int base = p * perProducer;
                threads.add(new Thread(() -> {
                    producerThreads.add(Thread.currentThread());
                    for (int i = 0; i < perProducer; i++) {
                        int slot = base + i;
                        srcu.callSrcu(() -> {
                            runs.incrementAndGet(slot);
                            if (producerThreads.contains(Thread.currentThread())) {
                                onProducerThread.incrementAndGet();
                            }
                        });
                    }
                }));
            }
            for (Thread t : threads) {
                t.start();
            }
            for (Thread t : threads) {
                t.join();
            }
            srcu.barrier();
            for (int i = 0; i < runs.length(); i++) {
                assertThat(runs.get(i)).as("callback %d runs exactly once", i).isEqualTo(1);
            }
            assertThat(onProducerThread.get()).as("never on a calling thread").isZero();
            assertThat(srcu.pendingCallbacks()).isZero();
        }
    }

    @Test
    void callSrcu_runsOnlyAfterPreExistingReadersLeave() throws Exception {
        try (Srcu srcu = new Srcu("after-gp")) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean readerInside = new AtomicBoolean();
            AtomicBoolean ranWhileReaderInside = new AtomicBoolean();
            CountDownLatch ran = new CountDownLatch(1);
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
            srcu.callSrcu(() -> {
                ranWhileReaderInside.set(readerInside.get());
                ran.countDown();
            });
            assertThat(ran.await(200, TimeUnit.MILLISECONDS)).as("must not run during the reader").isFalse();
            release.countDown();
            assertThat(ran.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(ranWhileReaderInside.get()).isFalse();
            reader.join();
            srcu.barrier(); // the callback has run; its batch may still be finishing its bookkeeping
        }
    }

    @Test
    void callSrcu_underLoad_manyCallbacksShareOneGracePeriod() throws Exception {
        int callbacks = 50_000;
        try (Srcu srcu = new Srcu("batching")) {
            // A reader holds the grace period open while the callbacks arrive, as a slow grace
            // period would: everything queued meanwhile must share the next grace period.
            int idx = srcu.downRead();
            long gp0 = srcu.gracePeriodsCompleted();
            AtomicLong ran = new AtomicLong();
            for (int i = 0; i < callbacks; i++) {
                srcu.callSrcu(ran::incrementAndGet);
            }
            srcu.upRead(idx);
            srcu.barrier();
            long gps = srcu.gracePeriodsCompleted() - gp0;
            long batches = srcu.callbackBatches();
            assertThat(ran.get()).isEqualTo(callbacks);
            assertThat(batches).as("batches for %d callbacks (gps=%d)", callbacks, gps).isBetween(1L, 3L);
            assertThat(gps).as("grace periods used").isBetween(1L, 3L);
        }
    }

    @Test
    void callSrcu_withoutReaders_stillBatches() throws Exception {
        int callbacks = 50_000;
        try (Srcu srcu = new Srcu("batching-idle")) {
            AtomicLong ran = new AtomicLong();
            for (int i = 0; i < callbacks; i++) {
                srcu.callSrcu(ran::incrementAndGet);
            }
            srcu.barrier();
            assertThat(ran.get()).isEqualTo(callbacks);
            // One grace period per batch, never one per callback.
            assertThat(srcu.callbackBatches()).as("batches").isLessThan(callbacks / 2);
        }
    }

    @Test
    void callSrcu_runsInQueueOrder() throws Exception {
        List<Integer> order = new CopyOnWriteArrayList<>();
        try (Srcu srcu = new Srcu("fifo")) {
            for (int i = 0; i < 1_000; i++) {
                int n = i;
                srcu.callSrcu(() -> order.add(n));
            }
            srcu.barrier();
        }
        assertThat(order).hasSize(1_000).isSorted();
    }

    @Test
    void callbackThatThrows_isReported_andLaterCallbacksStillRun() throws Exception {
        List<Throwable> reported = new CopyOnWriteArrayList<>();
        AtomicLong later = new AtomicLong();
        try (Srcu srcu = Srcu.builder("throwing").callbackErrorHandler(reported::add).build()) {
            srcu.callSrcu(() -> {
                throw new IllegalArgumentException("boom");
            });
            srcu.callSrcu(later::incrementAndGet);
            srcu.callSrcu(() -> {
                throw new AssertionError("bang");
            });
            srcu.callSrcu(later::incrementAndGet);
            srcu.barrier();
        }
        assertThat(later.get()).isEqualTo(2);
        assertThat(reported).extracting(Throwable::getMessage).containsExactly("boom", "bang");
    }

    @Test
    void callbackExecutor_runsBatchesOnTheGivenExecutor_inOrder() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "user-pool");
            t.setDaemon(true);
            return t;
        });
        List<Integer> order = new CopyOnWriteArrayList<>();
        Set<String> threadNames = ConcurrentHashMap.newKeySet();
        try (Srcu srcu = new Srcu("with-executor", pool)) {
            for (int i = 0; i < 5_000; i++) {
                int n = i;
                srcu.callSrcu(() -> {
                    order.add(n);
                    threadNames.add(Thread.currentThread().getName());
                });
                if (i % 500 == 0) {
                    Thread.yield();
                }
            }
            srcu.barrier();
        } finally {
            pool.shutdown();
        }
        assertThat(order).hasSize(5_000).isSorted();
        assertThat(threadNames).containsExactly("user-pool");
    }

    @Test
    void callbackThatInterruptsItsThread_doesNotLeakIntoLaterCallbacks_andTheThreadStillParks()
            throws Exception {
        List<Boolean> seenInterrupted = new CopyOnWriteArrayList<>();
        List<Thread> domainThread = new CopyOnWriteArrayList<>();
        try (Srcu srcu = new Srcu("self-interrupt")) {
            srcu.callSrcu(() -> {
                domainThread.add(Thread.currentThread());
                Thread.currentThread().interrupt(); // the usual "restore the interrupt" idiom
            });
            srcu.barrier();
            srcu.callSrcu(() -> seenInterrupted.add(Thread.currentThread().isInterrupted()));
            srcu.barrier();
            // Idle again: the domain thread must be parked, not spinning on a stray interrupt.
            Thread t = domainThread.get(0);
            for (int i = 0; i < 5_000 && t.getState() != Thread.State.WAITING; i++) {
                Thread.sleep(1);
            }
            assertThat(t.getState()).isEqualTo(Thread.State.WAITING);
            assertThat(t.isInterrupted()).isFalse();
        }
        assertThat(seenInterrupted).containsExactly(false);
    }

    @Test
    void executorThatThrows_batchStillRunsOnTheDomainThread() throws Exception {
        AtomicLong ran = new AtomicLong();
        Executor broken = task -> {
            throw new IllegalStateException("executor is broken");
        };
        try (Srcu srcu = new Srcu("broken-executor", broken)) {
            for (int i = 0; i < 100; i++) {
                srcu.callSrcu(ran::incrementAndGet);
            }
            srcu.barrier();
        }
        assertThat(ran.get()).isEqualTo(100);
    }

    @Test
    void defaultCallbackThread_isADaemonNamedAfterTheDomain() throws Exception {
        AtomicLong daemon = new AtomicLong();
        List<String> names = new CopyOnWriteArrayList<>();
        try (Srcu srcu = new Srcu("named-domain")) {
            srcu.callSrcu(() -> {
                names.add(Thread.currentThread().getName());
                daemon.set(Thread.currentThread().isDaemon() ? 1 : 0);
            });
            srcu.barrier();
        }
        assertThat(names).containsExactly("named-domain");
        assertThat(daemon.get()).isEqualTo(1);
    }

    @Test
    void callSrcu_fromInsideAReadSectionAndFromACallback_isAllowed() throws Exception {
        AtomicLong ran = new AtomicLong();
        try (Srcu srcu = new Srcu("nested-calls")) {
            int idx = srcu.readLock();
            srcu.callSrcu(() -> srcu.callSrcu(ran::incrementAndGet));
            srcu.readUnlock(idx);
            srcu.barrier(); // runs the outer callback, which queues the inner one
            srcu.barrier(); // the inner one was queued before this call
        }
        assertThat(ran.get()).isEqualTo(1);
    }
}
