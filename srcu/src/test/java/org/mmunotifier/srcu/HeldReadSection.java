package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A read section held open on a thread of its own until the test lets it go: the reader in the
 * way that tests of grace periods need. {@link #readLock} and {@link #handle} return once the
 * section has been entered; {@link #leave()} lets it end; {@link #close()} lets it end, joins the
 * thread and rethrows what failed on it.
 */
final class HeldReadSection implements AutoCloseable {
    private final CountDownLatch inside = new CountDownLatch(1);
    private final CountDownLatch leave = new CountDownLatch(1);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final Thread thread;

    /** What the section does just before it unlocks (the tests that look at the domain from inside). */
    interface BeforeUnlock {
        void run() throws Exception;
    }

    private HeldReadSection(String name, Srcu srcu, boolean handle, BeforeUnlock beforeUnlock) {
        thread = new Thread(() -> {
            Srcu.Reader r = handle ? srcu.reader() : null;
            int idx = handle ? r.lock() : srcu.readLock();
            try {
                inside.countDown();
                leave.await();
                beforeUnlock.run();
            } catch (Throwable t) {
                failure.set(t);
            } finally {
                if (handle) {
                    r.unlock(idx);
                } else {
                    srcu.readUnlock(idx);
                }
            }
        }, name);
    }

    /** A {@code readLock}/{@code readUnlock} section, entered when this returns. */
    static HeldReadSection readLock(String name, Srcu srcu) throws InterruptedException {
        return readLock(name, srcu, () -> { });
    }

    /** A {@code readLock}/{@code readUnlock} section that runs {@code beforeUnlock} when let go. */
    static HeldReadSection readLock(String name, Srcu srcu, BeforeUnlock beforeUnlock) throws InterruptedException {
        return new HeldReadSection(name, srcu, false, beforeUnlock).started();
    }

    /** A section through the thread's handle ({@code reader().lock()}/{@code unlock}). */
    static HeldReadSection handle(String name, Srcu srcu) throws InterruptedException {
        return new HeldReadSection(name, srcu, true, () -> { }).started();
    }

    private HeldReadSection started() throws InterruptedException {
        thread.start();
        assertThat(inside.await(10, TimeUnit.SECONDS)).as("%s entered its section", thread.getName()).isTrue();
        return this;
    }

    /** Lets the section end (it runs its before-unlock action, then unlocks). */
    void leave() {
        leave.countDown();
    }

    /** Lets the section end, waits for its thread, and rethrows what failed there. */
    @Override
    public void close() throws Exception {
        leave();
        thread.join(10_000);
        assertThat(thread.isAlive()).as("%s ended", thread.getName()).isFalse();
        Throwable t = failure.get();
        if (t instanceof Exception e) {
            throw e;
        }
        if (t != null) {
            throw new AssertionError(thread.getName() + " failed", t);
        }
    }
}
