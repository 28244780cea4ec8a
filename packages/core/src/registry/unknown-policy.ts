/**
 * The error for a policy name the registry does not know. Its message and suggestion are what a
 * problem response may show, so they name no declared policy: the did-you-mean and the declared
 * names are fields for logs and development tooling (`didYouMean`, `declared`), and
 * `Bulwark.assertPolicy(name)` (start-up) throws them in its message.
 */
import { BulwarkError, InvalidConfigError } from '../errors/bulwark-error.js';
import { closest } from '../util/checks.js';

/** `UNKNOWN_POLICY`: no policy of that name is declared. */
export class UnknownPolicyError extends BulwarkError {
  /** The closest declared name, if one is close. Never rendered in a response. */
  readonly didYouMean: string | undefined;
  /** The names declared when it was thrown, sorted. Never rendered in a response. */
  readonly declared: readonly string[];

  constructor(name: string, declared: readonly string[]) {
    super('UNKNOWN_POLICY', {
      message: `No policy named '${name}' is declared.`,
      suggestion:
        'Declare the policy under `policies` in the Bulwark config (code, YAML file or env vars) or with bulwark.define(name, config), or fix the spelling of its name.',
      policy: name,
    });
    this.name = 'UnknownPolicyError';
    this.didYouMean = closest(name, declared);
    this.declared = declared;
  }
}

/** The start-up form: an InvalidConfigError naming the unknown policy, the closest name and the declared ones. */
export function unknownPolicyConfigError(
  name: string,
  declared: readonly string[],
  where: string,
): InvalidConfigError {
  const near = closest(name, declared);
  const list = declared.length > 0 ? declared.map((n) => `'${n}'`).join(', ') : 'none';
  return new InvalidConfigError([
    {
      path: where,
      expected: `the name of a declared policy (declared: ${list})`,
      received: JSON.stringify(name),
      fix: near ? `did you mean '${near}'?` : `declare '${name}' under \`policies\` or with bulwark.define()`,
    },
  ]);
}
