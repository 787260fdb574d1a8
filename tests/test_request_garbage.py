"""A request's objects are freed when it ends, by reference counting: none waits for the collector.

graphql-core's executor and its resolve-info helpers refer to each other; left so, every
request's executor, and through the context the request and its environ, would live on
until a garbage collection (tens of objects a request, collected every few requests).
"""

import gc

from conftest import GraphQL
from flask.testing import FlaskClient

# The app's own; the test client keeps werkzeug's base Request of each answer in a cycle of its own.
KEPT_ALIVE = {"GraphQLContext", "Executor", "OneShotExecutor", "ServiceRequest"}


def garbage_types_after(send) -> set[str]:
    """The types of the objects that only the cycle collector could free, after ``send()``."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        send()
        gc.collect()
        return {type(thing).__qualname__ for thing in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_an_answered_request_leaves_its_objects_to_reference_counting(
    client: FlaskClient, gql: GraphQL
) -> None:
    login = gql.register()
    headers = {"Authorization": f"JWT {login['token']}"}

    def send() -> None:
        for _ in range(5):
            assert client.post("/graphql", json={"query": "{ __typename }"}).status_code == 200
            answer = client.post("/graphql", json={"query": "{ whoami { id } }"}, headers=headers)
            assert answer.get_json()["data"]["whoami"]["id"] == login["user"]["id"]
            refused = client.post("/graphql", json={"query": "{ whoami { id } }"})
            assert refused.get_json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    assert garbage_types_after(send) & KEPT_ALIVE == set()
