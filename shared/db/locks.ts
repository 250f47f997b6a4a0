/**
 * Postgres advisory lock ids of MYCA Edge, in one place so that two jobs never share one by
 * accident (the recovery sweep and the audit archive once both used …003 and skipped each other).
 * The audit chain's id is also written in the append and archive functions (migrations 0003, 0006,
 * 0008), which take it inside the database.
 */
export const LOCKS = {
  migrations: 727_361_001,
  auditChain: 727_361_002,
  actionRecovery: 727_361_003,
  auditArchive: 727_361_004,
} as const;
