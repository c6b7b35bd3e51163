package org.mmunotifier.simulator.driver;

import java.util.concurrent.atomic.AtomicBoolean;
import org.mmunotifier.simulator.kernel.Process;

/**
 * One open attachment of a secondary MMU to a process (a device file: a GPU context, a VM, an
 * IOMMU bond, an accelerator context). It owns exactly one reference: one {@code get}, or one
 * {@code register}. {@link #tryClose()} makes sure that reference is dropped once, whether by the
 * process closing it, by exit, or by a driver unload.
 */
public final class Handle {
    public final SecondaryMmu driver;
    final Process process;
    final TrackedNotifier notifier;
    /** The per-file device state of a driver that has no list notifier (dmirror), else null. */
    final Object device;
    private final AtomicBoolean closed = new AtomicBoolean();

    Handle(SecondaryMmu driver, Process process, TrackedNotifier notifier) {
        this(driver, process, notifier, null);
    }

    Handle(SecondaryMmu driver, Process process, TrackedNotifier notifier, Object device) {
        this.driver = driver;
        this.process = process;
        this.notifier = notifier;
        this.device = device;
    }

    /** @return true for exactly one caller: the one that must drop the reference */
    boolean tryClose() {
        return closed.compareAndSet(false, true);
    }

    public boolean isClosed() {
        return closed.get();
    }
}
