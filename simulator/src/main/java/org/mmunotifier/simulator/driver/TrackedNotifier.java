package org.mmunotifier.simulator.driver;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.kernel.Process;

/**
 * A driver's per-mm notifier whose lifetime the checker watches: every callback brackets itself
 * with {@link #enter()} and {@link #exit()}, and the driver's free goes through {@link #free()}.
 *
 * <p>The checker then sees a callback on freed state (at entry, or at exit when the state was
 * freed while it ran), a free while a callback runs, a second free, and any callback of a driver
 * that has unloaded.
 */
abstract class TrackedNotifier extends MmuNotifier {
    /*
     * Guards
     * ------
     *   inCallback   atomic: callbacks running on this notifier now
     *   freed        atomic, set once by free()
     *
     * Ordering: enter() increments inCallback before it reads freed; free() sets freed before it
     * reads inCallback. Both are sequentially consistent atomics, so a callback running across a
     * free is seen by at least one side (Dekker): free sees inCallback > 0, or enter sees freed.
     */

    final SecondaryMmu driver;
    final Process process;
    private final AtomicInteger inCallback = new AtomicInteger();
    private final AtomicBoolean freed = new AtomicBoolean();

    /** For notifiers made by {@code allocNotifier}: {@code get} sets the ops. */
    TrackedNotifier(SecondaryMmu driver, Process process) {
        this.driver = driver;
        this.process = process;
    }

    /** For notifiers that are {@code register}ed. */
    TrackedNotifier(MmuNotifierOps<?> ops, SecondaryMmu driver, Process process) {
        super(ops);
        this.driver = driver;
        this.process = process;
    }

    /** Marks the start of a callback on this notifier. */
    final void enter() {
        inCallback.incrementAndGet();
        if (freed.get()) {
            driver.checker.violation(Checker.Kind.CALLBACK_ON_FREED_STATE,
                    () -> driver.name + " callback entered on freed state of " + process);
        }
        if (driver.unloaded()) {
            driver.checker.violation(Checker.Kind.CALLBACK_AFTER_UNLOAD,
                    () -> driver.name + " callback on " + process + " after the driver unloaded");
        }
    }

    /** Marks the end of a callback; flags a free that happened while it ran. */
    final void exit() {
        if (freed.get()) {
            driver.checker.violation(Checker.Kind.CALLBACK_ON_FREED_STATE,
                    () -> driver.name + " callback on " + process + " still ran when its state was freed");
        }
        inCallback.decrementAndGet();
    }

    /** When the driver last called {@code put} on this notifier ({@link System#nanoTime}); 0 if never. */
    private volatile long lastPutNanos;

    /** Notes the time of a put, just before the driver calls {@code MmuNotifiers.put}. */
    final void markPut() {
        lastPutNanos = System.nanoTime();
    }

    /**
     * {@code freeNotifier}'s free: records the time since the last put (the grace period the
     * deferred free waited for), then frees the state.
     */
    final void freeDeferred() {
        long put = lastPutNanos;
        if (put != 0) {
            driver.recordShared(org.mmunotifier.simulator.Stats.Latency.DEFERRED_FREE, System.nanoTime() - put);
        }
        free();
    }

    /** Frees the driver's state: from {@code freeNotifier}, after {@code unregister}, or too early. */
    final void free() {
        free(false);
    }

    /**
     * Frees the driver's state.
     *
     * @param insideOwnCallback whether the caller is itself a callback on this notifier (counted in
     *     {@code inCallback}); any other running callback is another thread's
     */
    final void free(boolean insideOwnCallback) {
        if (!freed.compareAndSet(false, true)) {
            driver.checker.violation(Checker.Kind.DOUBLE_FREE, () -> driver.name + " state of " + process + " freed twice");
            return;
        }
        int running = inCallback.get();
        int own = insideOwnCallback ? 1 : 0;
        if (running > own) {
            driver.checker.violation(Checker.Kind.FREE_DURING_OTHER_CALLBACK,
                    () -> driver.name + " state of " + process + " freed while another thread's callback ran on it");
        } else if (running > 0) {
            driver.checker.violation(Checker.Kind.FREE_DURING_CALLBACK,
                    () -> driver.name + " state of " + process + " freed from inside a callback still running on it");
        }
        driver.freed.increment();
        clearState();
    }

    /** @return true once {@link #free()} has run */
    final boolean isFreed() {
        return freed.get();
    }

    /** Drops the driver's cached translations; called once by {@link #free()}. */
    abstract void clearState();
}
