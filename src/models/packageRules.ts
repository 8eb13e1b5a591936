// The rules that cut across models, applied to every schema of the package in one place (`applyPackageRules`,
// called once by makeModels.ts when the package loads). Each rule reads what it needs from the schema itself
// (immutable paths, `select: false` secret paths, the tenant field), so no model repeats it.
import type { Schema } from 'mongoose';
import { conflictErrors, duplicateKeyErrors, validationErrors } from '../errors.js';
import type { LimitedModel } from '../contracts/limits.js';
import { refuseUncheckedWrites, versionQueryWrites } from './checkedWrites.js';
import { boundInput, failRefusedQueries } from './inputLimits.js';
import { refuseSkippedMiddleware, safeQueries } from './querySafety.js';
import { guardSecretPaths, hideSecrets, secretPaths } from './secrets.js';
import { tenantScope } from './tenancy.js';
import { refuseImmutableUpdates, validateQueryUpdates } from './updateGuards.js';

export function applyPackageRules(schemas: Readonly<Record<LimitedModel, Schema>>): void {
  for (const [model, schema] of Object.entries(schemas) as Array<[LimitedModel, Schema]>) {
    boundInput(schema, model);
    const secrets = secretPaths(schema);
    if (secrets.length > 0) hideSecrets(schema, secrets);
    schema.plugin(duplicateKeyErrors);
    schema.plugin(conflictErrors);
    schema.plugin(validationErrors);
    schema.plugin(refuseImmutableUpdates);
    schema.plugin(validateQueryUpdates);
    schema.plugin(refuseUncheckedWrites);
    schema.plugin(versionQueryWrites);
    // After duplicateKeyErrors and validationErrors, so that their errors are redacted too.
    schema.plugin(guardSecretPaths);
    // Both run before every other middleware of a query, aggregate or bulkWrite (the last applied first): the
    // filter is made safe, then its workspace checked, before anything reads or writes with it.
    schema.plugin(tenantScope);
    schema.plugin(safeQueries);
    schema.plugin(failRefusedQueries);
    // Applied last, so it runs first: no operation may skip the rules above with `middleware: false`.
    schema.plugin(refuseSkippedMiddleware);
  }
}
