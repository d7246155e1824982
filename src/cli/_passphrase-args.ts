/**
 * @module The two options every command that signs takes for an encrypted
 * CA key; alone in this file so `depot start` (whose process becomes the
 * supervisor) can declare them without loading the crypto behind them.
 */
export const passphraseArgs = {
  "passphrase-file": { type: "string", valueHint: "file", description: "For an encrypted CA key: a file whose first line is its passphrase ('-': standard input)" },
  "passphrase-env": { type: "string", valueHint: "name", description: "For an encrypted CA key: the name of an environment variable holding its passphrase" },
} as const;
