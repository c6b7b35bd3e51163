package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mmunotifier.srcu.SrcuSynchronizeTest.await;

import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
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

    /**
     * An executor thread counts as running a callback only while it runs a batch: once the
     * batch is over, the same thread may call barrier() (and close()) like any other.
     */
    @Test
    void callbackExecutorThread_mayCallBarrier_onceItsBatchIsOver() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Srcu srcu = Srcu.builder("executor-thread-after-batch").callbackExecutor(pool).build();
            AtomicLong ran = new AtomicLong();
            srcu.callSrcu(ran::incrementAndGet);
            srcu.barrier();
            assertThat(ran.get()).isEqualTo(1);
            srcu.callSrcu(ran::incrementAndGet);
            srcu.barrier();
            // The pool's one thread ran both batches; now it is not running a callback.
            pool.submit(() -> {
                srcu.barrier();
                srcu.close();
                return null;
            }).get(20, TimeUnit.SECONDS);
            assertThat(ran.get()).isEqualTo(2);
            assertThat(srcu.toString()).endsWith(", closed]");
        } finally {
            pool.shutdownNow();
        }
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
    void executorThatThrows_batchStillRunsOnTheDomainThread_withoutAStrayInterrupt_andIsLogged()
            throws Exception {
        AtomicLong ran = new AtomicLong();
        List<String> threads = new CopyOnWriteArrayList<>();
        List<Boolean> interrupted = new CopyOnWriteArrayList<>();
        IllegalStateException refusal = new IllegalStateException("executor is broken");
        Executor broken = task -> {
            throw refusal;
        };
        try (CapturedLog log = new CapturedLog(); Srcu srcu = new Srcu("broken-executor", broken)) {
            for (int i = 0; i < 100; i++) {
                srcu.callSrcu(() -> {
                    threads.add(Thread.currentThread().getName());
                    interrupted.add(Thread.currentThread().isInterrupted());
                    ran.incrementAndGet();
                });
            }
            srcu.barrier();
            assertThat(log.records).isNotEmpty().allSatisfy(r -> {
                assertThat(r.level()).isEqualTo("WARNING");
                assertThat(r.message()).isEqualTo("SRCU domain 'broken-executor': callback executor refused a batch ("
                        + refusal + "); running it on the domain thread");
                assertThat(r.thrown()).isSameAs(refusal);
            });
        }
        assertThat(ran.get()).isEqualTo(100);
        assertThat(threads).containsOnly("broken-executor");
        assertThat(interrupted).containsOnly(false);
    }

    @Test
    void callbackThatThrows_isLoggedAsAnErrorOnTheSrcuLogger() throws Exception {
        IllegalArgumentException boom = new IllegalArgumentException("boom");
        try (CapturedLog log = new CapturedLog(); Srcu srcu = new Srcu("logged")) {
            srcu.callSrcu(() -> {
                throw boom;
            });
            srcu.barrier();
            assertThat(log.records).singleElement().satisfies(r -> {
                assertThat(r.level()).isEqualTo("SEVERE"); // System.Logger's ERROR
                assertThat(r.message()).isEqualTo("SRCU domain 'logged': a callback threw; later callbacks still run");
                assertThat(r.thrown()).isSameAs(boom);
            });
        }
    }

    @Test
    void errorHandlerThatThrows_isLogged_andLaterCallbacksStillRun() throws Exception {
        IllegalStateException handlerFailure = new IllegalStateException("handler broke");
        AtomicLong later = new AtomicLong();
        try (CapturedLog log = new CapturedLog();
                Srcu srcu = Srcu.builder("bad-handler").callbackErrorHandler(t -> {
                    throw handlerFailure;
                }).build()) {
            srcu.callSrcu(() -> {
                throw new IllegalArgumentException("boom");
            });
            srcu.callSrcu(later::incrementAndGet);
            srcu.barrier();
            assertThat(log.records).extracting(CapturedLog.Entry::message).containsExactly(
                    "SRCU domain 'bad-handler': a callback threw; later callbacks still run",
                    "SRCU domain 'bad-handler': callback error handler threw");
            assertThat(log.records.get(1).thrown()).isSameAs(handlerFailure);
        }
        assertThat(later.get()).isEqualTo(1);
    }

    @Test
    void domainThread_interruptedWhileWaitingToHandOutABatch_keepsItsInterruptStatus() throws Exception {
        // The domain thread's waits are uninterruptible like synchronize()'s: an interrupt that
        // arrives while it waits for the executor's running batch is re-asserted afterwards. The
        // executor runs the first batch on a thread of its own and refuses the second, so the
        // second runs on the domain thread, where its callback sees the status.
        CountDownLatch firstRunning = new CountDownLatch(1);
        CountDownLatch releaseFirst = new CountDownLatch(1);
        AtomicLong executions = new AtomicLong();
        Executor firstOnItsOwnThreadThenRefuse = task -> {
            if (executions.getAndIncrement() > 0) {
                throw new RejectedExecutionException("one batch only");
            }
            Thread t = new Thread(task, "first-batch");
            t.setDaemon(true);
            t.start();
        };
        List<Boolean> interruptedInSecondBatch = new CopyOnWriteArrayList<>();
        try (Srcu srcu = new Srcu("handout-interrupt", firstOnItsOwnThreadThenRefuse)) {
            srcu.callSrcu(() -> {
                firstRunning.countDown();
                await(releaseFirst);
            });
            firstRunning.await();
            srcu.callSrcu(() -> interruptedInSecondBatch.add(Thread.currentThread().isInterrupted()));
            Thread domain = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("handout-interrupt")).findFirst().orElseThrow();
            // Object.wait() for the first batch: WAITING with no blocker (an idle park has one).
            for (int i = 0; domain.getState() != Thread.State.WAITING || LockSupport.getBlocker(domain) != null; i++) {
                assertThat(i).as("the domain thread never waited for the first batch").isLessThan(10_000);
                Thread.sleep(1);
            }
            domain.interrupt();
            // The wait consumes the interrupt by throwing (clearing the status); only then may the
            // first batch end, or a wake-up by its notifyAll could leave the status set instead.
            for (int i = 0; domain.isInterrupted(); i++) {
                assertThat(i).as("the domain thread's wait never took the interrupt").isLessThan(10_000);
                Thread.sleep(1);
            }
            releaseFirst.countDown();
            srcu.barrier();
        }
        assertThat(interruptedInSecondBatch).containsExactly(true);
    }

    @Test
    void defaultCallbackThread_isADaemonNamedAfterTheDomain() throws Exception {
        AtomicLong daemon = new AtomicLong();
        List<String> names = new CopyOnWriteArrayList<>();
        try (Srcu srcu = new Srcu("named-domain")) {
            // The first callSrcu starts the domain thread. Threads inherit daemon status from
            // their creator, so call it from a thread that is not a daemon.
            Thread caller = new Thread(() -> srcu.callSrcu(() -> {
                names.add(Thread.currentThread().getName());
                daemon.set(Thread.currentThread().isDaemon() ? 1 : 0);
            }), "non-daemon-caller");
            caller.setDaemon(false);
            caller.start();
            caller.join();
            srcu.barrier();
        }
        assertThat(names).containsExactly("named-domain");
        assertThat(daemon.get()).isEqualTo(1);
    }

    @Test
    void close_stopsTheDomainThreadBeforeReturning() throws Exception {
        Thread domain = domainThreadOf(new Srcu("stopped-by-close"), Srcu::close);
        assertThat(domain.isAlive()).isFalse();
    }

    @Test
    void close_withTheInterruptStatusSet_stillStopsTheDomainThread_andKeepsTheStatus() throws Exception {
        // Usually the domain thread is still alive when close() joins it, so the join takes the
        // interrupt and close() must re-assert it; a few domains make that all but certain.
        for (int round = 0; round < 5; round++) {
            AtomicBoolean statusAfterClose = new AtomicBoolean();
            Thread domain = domainThreadOf(new Srcu("close-interrupted-" + round), srcu -> {
                Thread closer = new Thread(() -> {
                    Thread.currentThread().interrupt();
                    srcu.close();
                    statusAfterClose.set(Thread.interrupted());
                }, "closer");
                closer.start();
                try {
                    closer.join();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            });
            assertThat(domain.isAlive()).as("round %d", round).isFalse();
            assertThat(statusAfterClose).as("round %d", round).isTrue();
        }
    }

    /** Starts the domain thread of {@code srcu} with one callback, runs {@code then}, returns the thread. */
    private static Thread domainThreadOf(Srcu srcu, Consumer<Srcu> then) {
        List<Thread> domain = new CopyOnWriteArrayList<>();
        srcu.callSrcu(() -> domain.add(Thread.currentThread()));
        srcu.barrier();
        then.accept(srcu);
        return domain.get(0);
    }

    /**
     * Records what the domains log through {@code System.Logger}, whose default backend is
     * java.util.logging: a filter on the JUL logger of that name sees every record. The tests are
     * compiled into the module, which does not read java.logging, so JUL is reached reflectively.
     */
    static final class CapturedLog implements AutoCloseable {
        record Entry(String level, String message, Throwable thrown) {
        }

        final List<Entry> records = new CopyOnWriteArrayList<>();
        private final Object julLogger;
        private final Method setFilter;

        CapturedLog() throws ReflectiveOperationException {
            Class<?> loggerClass = Class.forName("java.util.logging.Logger");
            Class<?> filterClass = Class.forName("java.util.logging.Filter");
            julLogger = loggerClass.getMethod("getLogger", String.class).invoke(null, "org.mmunotifier.srcu.Srcu");
            setFilter = loggerClass.getMethod("setFilter", filterClass);
            Object filter = Proxy.newProxyInstance(CapturedLog.class.getClassLoader(), new Class<?>[] {filterClass},
                    (proxy, method, args) -> switch (method.getName()) {
                        case "isLoggable" -> {
                            records.add(entryOf(args[0]));
                            yield true;
                        }
                        case "equals" -> proxy == args[0];
                        case "hashCode" -> System.identityHashCode(proxy);
                        default -> "CapturedLog filter";
                    });
            setFilter.invoke(julLogger, filter);
        }

        private static Entry entryOf(Object record) throws ReflectiveOperationException {
            Object level = record.getClass().getMethod("getLevel").invoke(record);
            return new Entry((String) level.getClass().getMethod("getName").invoke(level),
                    (String) record.getClass().getMethod("getMessage").invoke(record),
                    (Throwable) record.getClass().getMethod("getThrown").invoke(record));
        }

        @Override
        public void close() throws ReflectiveOperationException {
            setFilter.invoke(julLogger, (Object) null);
        }
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
