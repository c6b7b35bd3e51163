package org.mmunotifier.srcu;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * rcutorture's "Reader Pipe" check for one domain: every object carries an age that the writer
 * advances around each grace period, and readers record the age they see.
 *
 * <p>The writer publishes a fresh object, marks the one it replaced as unpublished (age 1), waits
 * for a grace period ({@code synchronize}, {@code synchronizeExpedited} or {@code callSrcu}, by
 * mode) and then ages it again (age 2). Readers read the published object inside a read section,
 * linger (spin, yield, sleep, nest), and sample its age at the end of the section. An age of 2 or
 * more means a grace period ended while a reader that entered before it still held the object:
 * SRCU is broken. The histogram must be non-zero only in buckets 0 and 1.
 */
final class PipeTorture {

    enum Mode { SYNC, EXPEDITED, CALLBACK }

    static final int PIPE_LEN = 10;

    static final class Item {
        final long serial;
        volatile int age;

        Item(long serial) {
            this.serial = serial;
        }
    }

    record Result(long reads, long[] histogram, long gracePeriods, long writes) {
        long violations() {
            long v = 0;
            for (int i = 2; i < histogram.length; i++) {
                v += histogram[i];
            }
            return v;
        }

        @Override
        public String toString() {
            return "reads=" + reads + " writes=" + writes + " gracePeriods=" + gracePeriods
                    + " histogram=" + java.util.Arrays.toString(histogram);
        }
    }

    private final Srcu srcu;
    private final Mode mode;
    private final int readers;
    private final long seed;
    private volatile Item current = new Item(0);
    private volatile boolean stop;

    PipeTorture(Srcu srcu, Mode mode, int readers, long seed) {
        this.srcu = srcu;
        this.mode = mode;
        this.readers = readers;
        this.seed = seed;
    }

    Result run(long millis) throws InterruptedException {
        AtomicLongArray histogram = new AtomicLongArray(PIPE_LEN + 1);
        AtomicLong reads = new AtomicLong();
        AtomicLong writes = new AtomicLong();
        long gp0 = srcu.gracePeriodsCompleted();
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < readers; r++) {
            SplittableRandom rnd = new SplittableRandom(seed * 31 + r);
            threads.add(new Thread(() -> readerLoop(rnd, histogram, reads), "torture-reader-" + r));
        }
        threads.add(new Thread(() -> writerLoop(writes), "torture-writer"));
        for (Thread t : threads) {
            t.start();
        }
        Thread.sleep(millis);
        stop = true;
        for (Thread t : threads) {
            t.join();
        }
        if (mode == Mode.CALLBACK) {
            srcu.barrier();
        }
        long[] h = new long[PIPE_LEN + 1];
        for (int i = 0; i < h.length; i++) {
            h[i] = histogram.get(i);
        }
        return new Result(reads.get(), h, srcu.gracePeriodsCompleted() - gp0, writes.get());
    }

    private void readerLoop(SplittableRandom rnd, AtomicLongArray histogram, AtomicLong reads) {
        long n = 0;
        while (!stop) {
            int idx = srcu.readLock();
            Item item = current;
            linger(rnd);
            if (rnd.nextInt(8) == 0) { // a nested section on the same thread
                int inner = srcu.readLock();
                linger(rnd);
                srcu.readUnlock(inner);
            }
            int age = item.age; // sampled at the end of the section, as rcutorture does
            srcu.readUnlock(idx);
            histogram.incrementAndGet(Math.min(age, PIPE_LEN));
            n++;
        }
        reads.addAndGet(n);
    }

    private static void linger(SplittableRandom rnd) {
        switch (rnd.nextInt(16)) {
            case 0:
                Thread.yield();
                break;
            case 1:
                sleepQuietly(rnd.nextInt(2));
                break;
            default:
                for (int i = rnd.nextInt(64); i > 0; i--) {
                    Thread.onSpinWait();
                }
        }
    }

    private void writerLoop(AtomicLong writes) {
        long serial = 1;
        while (!stop) {
            Item old = current;
            current = new Item(serial++);
            old.age = 1; // unpublished; readers that still hold it are pre-existing
            switch (mode) {
                case SYNC:
                    srcu.synchronize();
                    old.age = 2;
                    break;
                case EXPEDITED:
                    srcu.synchronizeExpedited();
                    old.age = 2;
                    break;
                case CALLBACK:
                    srcu.callSrcu(() -> old.age = 2);
                    if ((serial & 63) == 0) {
                        srcu.barrier(); // keep the queue bounded
                    }
                    break;
                default:
                    throw new AssertionError(mode);
            }
            writes.incrementAndGet();
        }
    }

    private static void sleepQuietly(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
