/**
 * Market-abuse surveillance (CONTRACTS.md section 4, "Surveillance"): pure detectors fed in event
 * time by a Sequencer. The topology steps (washTrade, spoofing, layering, markingTheClose,
 * frontRunning) are in src/topology/steps/surveillance.ts.
 *
 * @example
 * import { SpoofingDetector, runDetector } from './surveillance/index.js';
 * const alerts = runDetector(new SpoofingDetector(params), trades, orders);
 */
export {
  Sequencer,
  FindingGrouper,
  EventTimers,
  Deque,
  PairMap,
  runDetector,
  opposite,
  counterpartyOf,
  fmtQty,
  fmtPrice,
  fmtPct,
  fmtElapsed,
  fmtLimit,
  pastTense,
  participle,
  type Side,
  type SurvTrade,
  type SurvOrder,
  type Finding,
  type AlertDraft,
  type Detector,
  type DetectorInputs,
  type SequencerSnapshot,
  type SurveillanceAlertType,
  type TradeRef,
} from './common.js';
export {
  OrderBookState,
  FillHistory,
  OrderFlow,
  NO_ORDER,
  type OrderFlowSnapshot,
  type OrderEntry,
  type OrderBookCounters,
  type OrderBookSnapshot,
  type FillHistorySnapshot,
} from './order-book-state.js';
export { WashTradeDetector, withinTolerance, type WashTradeParams } from './wash-trade.js';
export { SpoofingDetector, TallyMedian, type SpoofingParams } from './spoofing.js';
export { LayeringDetector, type LayeringParams } from './layering.js';
export {
  MarkingTheCloseDetector,
  zonedTimeToEpoch,
  localDate,
  closeAtOrAfter,
  type MarkingTheCloseParams,
} from './marking-the-close.js';
export { FrontRunningDetector, type FrontRunningParams } from './front-running.js';
