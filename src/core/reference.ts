/** Reference data of a recorded day (CONTRACTS.md section 2), shared by every topology of a job. */
export interface Instrument {
  instrument: string;
  sector: string;
  currency: string;
  tier: number;
  prevClose: number;
  adv: number;
  isIndex: boolean;
}

export interface Trader {
  traderId: string;
  desk: string;
  beneficialOwner: string;
  maxPosition: number;
  maxNotional: number;
  maxLoss: number;
  varLimit: number;
  maxConcentration: number;
}

/** Daily closes: `closes.get(instrument)[i]` is the close on `dates[i]` (NaN where missing). */
export interface History {
  dates: string[];
  closes: Map<string, Float64Array>;
}

export interface DayMeta {
  date: string;
  timezone: string;
  open: string;
  close: string;
}

export interface Incident {
  type: string;
  instrument?: string;
  traderId?: string;
  start: number;
  end: number;
  note?: string;
}

export interface ReferenceData {
  instruments: Map<string, Instrument>;
  traders: Map<string, Trader>;
  history: History | undefined;
  day: DayMeta | undefined;
  incidents: Incident[];
}

export function emptyReference(): ReferenceData {
  return { instruments: new Map(), traders: new Map(), history: undefined, day: undefined, incidents: [] };
}
