/**
 * The MMU notifier simulator: one run of processes whose address spaces are mirrored by secondary
 * MMUs, all driven through the public {@code org.mmunotifier.mm} API.
 *
 * <p>This package is the run itself: the command line ({@link SimulatorCommand}), the validated
 * configuration ({@link SimConfig}), the worker and kswapd threads ({@link Simulation}), the
 * per-thread counters ({@link Stats}, counted by {@link Op}) and the report ({@link Report}). The
 * parts it runs live in three sub-packages:
 * <ul>
 *   <li>{@code kernel}: the primary MMU, that is processes, their areas and page tables, physical
 *       frames, and the core-mm operations that raise the notifier calls;</li>
 *   <li>{@code driver}: the secondary MMUs, each a client of the notifier API with its own
 *       translation cache, and the device files through which they attach to processes;</li>
 *   <li>{@code check}: the checker that validates every secondary access and every notifier's
 *       lifetime, and the deliberate driver bugs it must catch.</li>
 * </ul>
 */
package org.mmunotifier.simulator;
