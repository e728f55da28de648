// The Sora release whose wire format we follow; reported in `offer.version` and GetStatsReport.
export const SORA_COMPAT_VERSION = "2025.2.0";
export const PRODUCT_NAME = "sora-compatible-sfu";
