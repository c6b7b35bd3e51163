package org.mmunotifier.srcu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * The {@code call_srcu()} engine of one domain.
 *
 * <pre>
 * callSrcu (any thread)          driver thread (one per domain, started lazily)
 * ---------------------          ----------------------------------------------
 * enqueued++                     batch = pending.getAndSet(null)      (grab: all queued so far)
 * push node on pending           s = snap(); wait for grace period s  (shared with synchronize)
 * if pending was empty: wake     run the batch in queue order          (inline or on the executor)
 *                                invoked++ after each callback; notify barrier waiters
 * </pre>
 *
 * <p>Batching: every callback pushed while the driver waits for a grace period lands in the next
 * batch, so under load one grace period serves many callbacks.
 *
 * <p>Order: {@code pending} is a Treiber stack; the driver reverses each batch, and it hands a
 * batch to the executor only after the previous batch has finished. Callbacks therefore run one at
 * a time, in the order their pushes took effect. {@link #barrier} depends on that order.
 *
 * <p>Barrier: {@code enqueued} is incremented before the push. A barrier reads it as {@code t} and
 * waits for {@code invoked >= t}. Every callback whose push completed before that read took one of
 * the first {@code t} tickets, and pushes happen after their ticket, so those callbacks are among
 * the first {@code t} pushed; FIFO execution runs the first {@code t} pushed before
 * {@code invoked} reaches {@code t}. Nothing queued means {@code invoked == enqueued}: return at
 * once, no grace period. {@code invoked} counts callbacks, not batches, so a barrier returns as
 * soon as its last callback has run, even when a later callback shares that batch and blocks.
 *
 * <p>Waking a barrier without a monitor per callback (a Dekker pair on two volatiles):
 * <pre>
 * runner, after each callback              barrier
 * invoked = done        (volatile write)   barrierWaiters++   (volatile write, under monitor)
 * if (barrierWaiters != 0) (volatile read) while (invoked &lt; t) (volatile read, under monitor)
 *     notifyAll under monitor                  monitor.wait()
 * </pre>
 * Volatile accesses are totally ordered: if the runner reads 0 waiters, the barrier's increment
 * comes later, so its read of {@code invoked} sees {@code done}. Otherwise the runner notifies,
 * and since the barrier checks and waits inside one hold of the monitor, that notify cannot fall
 * between them.
 *
 * <p>Guards: {@code pending} by CAS; {@code enqueued} atomic; {@code invoked} written by one
 * thread at a time, the runner of the current batch (batches run one after another: handOut
 * hands out the next only after {@code invoked} has covered the previous, observed under
 * {@code monitor}; so a runner never writes it again once it has reached the batch's end, nor
 * {@code invokingThread}), read anywhere (volatile); {@code barrierWaiters} written under
 * {@code monitor}, read anywhere (volatile); {@code driver} written under {@code monitor}.
 */
final class CallbackQueue {

    private static final System.Logger LOG = System.getLogger(Srcu.class.getName());

    private static final class Node {
        final Runnable callback;
        Node next;

        Node(Runnable callback) {
            this.callback = callback;
        }
    }

    private final Srcu srcu;
    private final Executor executor; // null: run batches on the driver thread
    private final Consumer<Throwable> errorHandler; // may be null
    private final Object monitor = new Object();
    private final AtomicLong enqueued = new AtomicLong();

    @SuppressWarnings("unused") // accessed through PENDING
    private volatile Node pending;
    private volatile long invoked;
    /** Barriers waiting on {@code monitor}; the runner notifies per callback only while some are. */
    private volatile int barrierWaiters;
    private volatile Thread driver;
    private volatile boolean stopping;
    /** The thread running a batch right now, so that barrier() from a callback can refuse. */
    private volatile Thread invokingThread;
    /** Ticket after the last batch handed to the executor; guarded by monitor. */
    private long handedOut;
    private long batches;

    CallbackQueue(Srcu srcu, Executor executor, Consumer<Throwable> errorHandler) {
        this.srcu = srcu;
        this.executor = executor;
        this.errorHandler = errorHandler;
    }

    void enqueue(Runnable callback) {
        Node node = new Node(callback);
        enqueued.incrementAndGet(); // the ticket: before the push (see the barrier argument above)
        Node head;
        do {
            head = pending;
            node.next = head;
        } while (!PENDING.weakCompareAndSet(this, head, node));
        if (head == null) {
            wakeDriver();
        }
    }

    private void wakeDriver() {
        Thread d = driver;
        if (d == null) {
            d = startDriver();
        }
        LockSupport.unpark(d);
    }

    private Thread startDriver() {
        synchronized (monitor) {
            Thread d = driver;
            if (d == null) {
                d = new Thread(this::driverLoop, srcu.name());
                d.setDaemon(true);
                driver = d;
                d.start();
            }
            return d;
        }
    }

    long pendingCallbacks() {
        long done = invoked; // first: invoked never passes enqueued, so the difference is >= 0
        return enqueued.get() - done;
    }

    long batches() {
        synchronized (monitor) {
            return batches;
        }
    }

    boolean isInvokingThread(Thread t) {
        return invokingThread == t;
    }

    /**
     * Waits until every callback whose {@code enqueue} completed before this call has run.
     * Uninterruptible: an interrupt is remembered and re-asserted on return.
     */
    void barrier() {
        long target = enqueued.get();
        if (invoked >= target) {
            return;
        }
        boolean interrupted = false;
        synchronized (monitor) {
            barrierWaiters++; // before reading invoked: the barrier's half of the Dekker pair
            try {
                while (invoked < target) {
                    try {
                        monitor.wait();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            } finally {
                barrierWaiters--;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops the driver; the caller has checked that nothing is pending. */
    void stop() {
        Thread d;
        synchronized (monitor) {
            stopping = true;
            d = driver;
        }
        if (d != null && d != Thread.currentThread()) {
            LockSupport.unpark(d);
            boolean interrupted = false;
            while (d.isAlive()) {
                try {
                    d.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void driverLoop() {
        while (!stopping) {
            Node grabbed = (Node) PENDING.getAndSet(this, (Node) null);
            if (grabbed == null) {
                // park() returns at once while the thread is interrupted: clear a stray interrupt
                // (a callback's, or one re-asserted by awaitGracePeriod) so that idling parks.
                Thread.interrupted();
                LockSupport.park(this);
                continue;
            }
            // Reverse the stack into queue order.
            Node fifo = null;
            int n = 0;
            while (grabbed != null) {
                Node next = grabbed.next;
                grabbed.next = fifo;
                fifo = grabbed;
                grabbed = next;
                n++;
            }
            // Every callback in the batch was pushed before the grab, so a grace period that
            // starts after the grab covers all of them.
            srcu.awaitGracePeriod(srcu.snapshot(), false);
            handOut(fifo, n);
        }
    }

    private void handOut(Node fifo, int n) {
        if (executor == null) {
            runBatch(fifo, n);
            return;
        }
        // Keep FIFO across batches: the previous batch must have finished first.
        synchronized (monitor) {
            boolean interrupted = false;
            while (invoked < handedOut) {
                try {
                    monitor.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            handedOut = invoked + n;
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            executor.execute(() -> runBatch(fifo, n));
        } catch (Throwable e) { // RejectedExecutionException, or a broken executor: never lose a batch
            LOG.log(System.Logger.Level.WARNING, () -> "SRCU domain '" + srcu.name()
                    + "': callback executor refused a batch (" + e + "); running it on the domain thread", e);
            runBatch(fifo, n);
        }
    }

    private void runBatch(Node fifo, int n) {
        CallbackBatchEvent event = CallbackBatchEvent.beginIfEnabled(); // JFR: null unless recorded
        invokingThread = Thread.currentThread();
        synchronized (monitor) {
            batches++; // counted as it begins: a barrier may return before the batch ends
        }
        long done = invoked; // this thread is now the only writer (see Guards)
        long end = done + n;
        try {
            for (Node node = fifo; node != null; node = node.next) {
                runOne(node.callback);
                if (done + 1 == end) {
                    invokingThread = null; // before the last advance, which lets the next batch begin
                }
                invoked = ++done; // volatile write, then the read below: the runner's half of the pair
                if (barrierWaiters != 0) {
                    synchronized (monitor) {
                        monitor.notifyAll();
                    }
                }
            }
        } finally {
            synchronized (monitor) {
                if (done != end) { // an Error escaped runOne: the rest counts as run (no batch has begun)
                    invokingThread = null;
                    invoked = end;
                }
                // Never write invoked once it reached end: the next batch's runner owns it now.
                monitor.notifyAll(); // handOut, waiting for this batch to end, and barriers
            }
            if (event != null) {
                event.end();
                if (event.shouldCommit()) {
                    event.domain = srcu.name();
                    event.count = n;
                    event.commit();
                }
            }
        }
    }

    private void runOne(Runnable callback) {
        try {
            callback.run();
        } catch (Throwable t) {
            try {
                LOG.log(System.Logger.Level.ERROR, () -> "SRCU domain '" + srcu.name()
                        + "': a callback threw; later callbacks still run", t);
            } catch (Throwable logFailure) {
                t.addSuppressed(logFailure); // a broken logger must not kill the domain thread
            }
            if (errorHandler != null) {
                try {
                    errorHandler.accept(t);
                } catch (Throwable h) {
                    try {
                        LOG.log(System.Logger.Level.ERROR, () -> "SRCU domain '" + srcu.name()
                                + "': callback error handler threw", h);
                    } catch (Throwable ignored) {
                        // nothing left to report to; the next callbacks still run
                    }
                }
            }
        } finally {
            Thread.interrupted(); // a callback's interrupt must not leak into the next callback
        }
    }

    // VarHandle mechanics
    private static final VarHandle PENDING;

    static {
        try {
            PENDING = MethodHandles.lookup().findVarHandle(CallbackQueue.class, "pending", Node.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
