package org.mmunotifier.simulator.driver;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.kernel.Process;

/**
 * A driver's per-mm notifier whose lifetime the checker watches: every callback brackets itself
 * with {@link #enter} and {@link #exit}, and the driver's free goes through {@link #free()}.
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
     * Ordering: enter increments inCallback before it reads freed; free() sets freed before it
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

    /**
     * The callback that entered last (its name), for messages. A plain field on purpose: every
     * callback writes it, and a volatile store would add a fence to each; the thread that builds
     * a message reads it racily and may see an older name, which is all a diagnostic needs (a
     * reference is never torn).
     */
    private String lastEntered = "none";

    /**
     * Marks the start of a callback on this notifier.
     *
     * @param callback the callback's name, as the ops interface names it (for the messages)
     * @param range the range of an invalidation callback, or null
     */
    final void enter(String callback, MmuNotifierRange range) {
        inCallback.incrementAndGet();
        lastEntered = callback; // a constant: no string is built on the hot path
        if (freed.get()) {
            driver.checker.violation(Checker.Kind.CALLBACK_ON_FREED_STATE,
                    () -> driver.name + " " + describe(callback, range) + " entered on freed state of " + process);
        }
        if (driver.unloaded()) {
            driver.checker.violation(Checker.Kind.CALLBACK_AFTER_UNLOAD,
                    () -> driver.name + " " + describe(callback, range) + " on " + process + " after the driver unloaded");
        }
    }

    /**
     * Marks the end of a callback; flags a free that happened while it ran.
     *
     * @param callback and {@code range}: as given to {@link #enter}
     */
    final void exit(String callback, MmuNotifierRange range) {
        if (freed.get()) {
            driver.checker.violation(Checker.Kind.CALLBACK_ON_FREED_STATE,
                    () -> driver.name + " " + describe(callback, range) + " on " + process
                            + " still ran when its state was freed");
        }
        inCallback.decrementAndGet();
    }

    /** @return "invalidateRangeStart (CLEAR [0x1000, 0x3000))", or the callback's name alone */
    static String describe(String callback, MmuNotifierRange range) {
        return range == null ? callback : callback + " (" + bracket(range) + ")";
    }

    /** @return "CLEAR [0x1000, 0x3000)": a range's event and addresses */
    static String bracket(MmuNotifierRange range) {
        return range.event() + " [0x" + Long.toHexString(range.start()) + ", 0x" + Long.toHexString(range.end()) + ")";
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
        free(null);
    }

    /**
     * Frees the driver's state.
     *
     * @param insideCallback the name of the callback on this notifier that the caller is (counted
     *     in {@code inCallback}), or null if the caller is none; any other running callback is
     *     another thread's
     */
    final void free(String insideCallback) {
        if (!freed.compareAndSet(false, true)) {
            driver.checker.violation(Checker.Kind.DOUBLE_FREE, () -> driver.name + " state of " + process + " freed twice");
            return;
        }
        int running = inCallback.get();
        int own = insideCallback != null ? 1 : 0;
        String last = lastEntered;
        if (running > own) {
            // which callback runs is not recorded per thread: the last one to enter is named
            driver.checker.violation(Checker.Kind.FREE_DURING_OTHER_CALLBACK,
                    () -> driver.name + " state of " + process + " freed" + (insideCallback == null ? ""
                            : " from inside its " + insideCallback) + " while another thread's callback ran on it "
                            + "(the last callback to enter it: " + last + ")");
        } else if (running > 0) {
            driver.checker.violation(Checker.Kind.FREE_DURING_CALLBACK,
                    () -> driver.name + " state of " + process + " freed from inside its " + insideCallback
                            + " callback, still running on it");
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
