/**
 * The Apollo Client example, run against a real server:
 *
 *   node build/example.js <graphql-url> <username> <password> <picture-path>
 *
 * logs in (tokenAuth), asks whoami, uploads the picture as the profile picture, and prints the
 * results as JSON. With ACCOUNTS_REFRESH_TOKEN (and ACCOUNTS_ACCESS_TOKEN) set it resumes that
 * stored session instead of logging in; a stale access token is then refreshed on the way.
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

import { createAccountsClient, type Session } from "./accounts-client.js";
import { TokenAuthDocument, UploadProfilePictureDocument, WhoamiDocument } from "./generated/operations.js";

const PICTURE_TYPES: Record<string, string> = {
  ".gif": "image/gif",
  ".jpeg": "image/jpeg",
  ".jpg": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
};

async function main(argv: string[]): Promise<void> {
  const [uri, username, password, picturePath] = argv;
  if (!uri || !username || !password || !picturePath) {
    throw new Error("usage: node build/example.js <graphql-url> <username> <password> <picture-path>");
  }
  const session: Session = {
    accessToken: process.env.ACCOUNTS_ACCESS_TOKEN || null,
    refreshToken: process.env.ACCOUNTS_REFRESH_TOKEN || null,
    refreshes: 0,
  };
  const { client } = createAccountsClient(uri, session);
  let loggedIn = false;
  if (!session.refreshToken) {
    const login = await client.mutate({ mutation: TokenAuthDocument, variables: { username, password } });
    session.accessToken = login.data?.tokenAuth?.token ?? null;
    session.refreshToken = login.data?.tokenAuth?.refreshToken ?? null;
    loggedIn = session.accessToken !== null;
  }
  const whoami = await client.query({ query: WhoamiDocument, fetchPolicy: "network-only" });
  const picture = await readFile(picturePath);
  const extension = picturePath.slice(picturePath.lastIndexOf(".")).toLowerCase();
  const file = new File([picture], basename(picturePath), {
    type: PICTURE_TYPES[extension] ?? "application/octet-stream",
  });
  const upload = await client.mutate({ mutation: UploadProfilePictureDocument, variables: { picture: file } });
  const results = {
    loggedIn,
    refreshes: session.refreshes,
    whoami: whoami.data?.whoami ?? null,
    upload: upload.data?.updateUser ?? null,
  };
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
