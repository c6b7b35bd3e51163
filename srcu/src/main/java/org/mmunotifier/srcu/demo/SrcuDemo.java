package org.mmunotifier.srcu.demo;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.mmunotifier.srcu.Srcu;

/**
 * A small demonstration of one SRCU domain: a reader that sleeps inside its section, a
 * {@code synchronize()} that waits for it, and a deferred callback that frees the retired object.
 * Run it with {@code java -cp srcu/target/classes org.mmunotifier.srcu.demo.SrcuDemo}.
 */
public final class SrcuDemo {
    private SrcuDemo() {
    }

    /** A published object with a "freed" flag, standing in for memory. */
    private static final class Box {
        final int version;
        volatile boolean freed;

        Box(int version) {
            this.version = version;
        }
    }

    /**
     * Runs the demonstration and prints what happens.
     *
     * @param args ignored
     * @throws InterruptedException if interrupted while waiting for the reader thread
     */
    public static void main(String[] args) throws InterruptedException {
        AtomicReference<Box> current = new AtomicReference<>(new Box(1));
        CountDownLatch inSection = new CountDownLatch(1);
        try (Srcu srcu = new Srcu("demo")) {
            Thread reader = new Thread(() -> {
                int idx = srcu.readLock();
                try {
                    Box b = current.get();
                    inSection.countDown();
                    sleep(200);
                    System.out.printf("reader: still using version %d after 200 ms, freed=%b%n",
                            b.version, b.freed);
                } finally {
                    srcu.readUnlock(idx);
                }
            }, "reader");
            reader.start();
            inSection.await();

            Box old = current.getAndSet(new Box(2));
            long t0 = System.nanoTime();
            srcu.synchronize();
            System.out.printf("updater: synchronize() waited %d ms for the pre-existing reader%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            old.freed = true;

            Box retired = current.getAndSet(new Box(3));
            srcu.callSrcu(() -> {
                retired.freed = true;
                System.out.printf("callback: freed version %d on thread '%s' after a grace period%n",
                        retired.version, Thread.currentThread().getName());
            });
            srcu.barrier();
            reader.join();
            System.out.printf("done: %d grace periods, %d callback batch(es)%n",
                    srcu.gracePeriodsCompleted(), srcu.callbackBatches());
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
