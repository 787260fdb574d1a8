/**
 * An Apollo Client 4 for the accounts service: access tokens sent as `Authorization: JWT <token>`,
 * one refresh and retry when the server answers `UNAUTHENTICATED`, and files in variables sent as
 * GraphQL multipart requests (apollo-upload-client).
 */
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { ErrorLink } from "@apollo/client/link/error";
import UploadHttpLink from "apollo-upload-client/UploadHttpLink.mjs";
import { from, switchMap } from "rxjs";

import { RefreshAccessTokenDocument } from "./generated/operations.js";

/** Where a front end keeps the tokens of its login (here: memory). */
export interface Session {
  accessToken: string | null;
  refreshToken: string | null;
  /** How many times the access token was refreshed; the example reports it. */
  refreshes: number;
}

export interface AccountsClient {
  client: ApolloClient;
  session: Session;
}

export function createAccountsClient(uri: string, session: Session): AccountsClient {
  // Multipart requests need a CSRF-proof header: a signed-in client always sends Authorization.
  const authorization = new SetContextLink((previous) => ({
    headers: {
      ...previous.headers,
      ...(session.accessToken ? { Authorization: `JWT ${session.accessToken}` } : {}),
    },
  }));
  let refreshing: Promise<void> | null = null;
  // Concurrent operations that fail together share one refresh: each refresh token works once.
  const refreshOnce = (): Promise<void> => {
    refreshing ??= refreshAccessToken(client, session).finally(() => {
      refreshing = null;
    });
    return refreshing;
  };
  const retryAfterRefresh = new ErrorLink(({ error, operation, forward }) => {
    const unauthenticated =
      CombinedGraphQLErrors.is(error) &&
      error.errors.some((problem) => problem.extensions?.code === "UNAUTHENTICATED");
    if (!unauthenticated || !session.refreshToken || operation.getContext().retriedAfterRefresh) {
      return;
    }
    operation.setContext({ retriedAfterRefresh: true });
    return from(refreshOnce()).pipe(switchMap(() => forward(operation)));
  });
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([retryAfterRefresh, authorization, new UploadHttpLink({ uri })]),
  });
  return { client, session };
}

async function refreshAccessToken(client: ApolloClient, session: Session): Promise<void> {
  const refreshToken = session.refreshToken;
  if (!refreshToken) {
    throw new Error("No refresh token: log in again.");
  }
  const { data } = await client.mutate({ mutation: RefreshAccessTokenDocument, variables: { refreshToken } });
  const pair = data?.refreshAccessToken;
  if (!pair) {
    throw new Error("The refresh returned no tokens.");
  }
  session.accessToken = pair.token;
  session.refreshToken = pair.refreshToken;
  session.refreshes += 1;
}
