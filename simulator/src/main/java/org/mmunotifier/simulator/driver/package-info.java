/**
 * The secondary MMUs: each {@link SecondaryMmu} is a real client of the notifier API that attaches
 * to processes through device files ({@link Handle}) and caches translations of their memory.
 *
 * <ul>
 *   <li>{@link GpuMirrorDriver}: get/put per device context, a {@link Mirror} filled by faulting
 *       through the primary;</li>
 *   <li>{@link KvmShadowDriver}: register/unregister per VM, a shadow table, the young
 *       callbacks;</li>
 *   <li>{@link IommuTlbDriver}: get/put per bond, a TLB flushed by {@code invalidateRange};</li>
 *   <li>{@link AccelDriver}: getLocked, unloaded half-way through a run;</li>
 *   <li>{@link DmirrorDriver}: the HMM mirror of {@code lib/test_hmm.c} on interval
 *       subscriptions (one per device file), faulting with the kernel's range fault; and, opt-in,
 *       {@code userptr}, the GPU design on interval subscriptions (one per buffer object).</li>
 * </ul>
 *
 * <p>Every list driver's per-mm notifier is a {@link TrackedNotifier}, whose callbacks and free
 * report to the checker; {@link MirrorNotifier} holds the callback bodies the mirror drivers
 * share. The interval drivers check their own callbacks against their removes.
 */
package org.mmunotifier.simulator.driver;
