import pickle
import select
import socket

import pytest
import uvicorn
from django.core.management.base import CommandError

from hubbub import _listener as listener
from hubbub.management.commands.serve import serve_workers

pytestmark = pytest.mark.skipif(not listener.balances(), reason="SO_REUSEPORT balances connections on Linux only")


def worker_copy(sock: listener.WorkerSocket) -> socket.socket:
    """What a worker process gets when uvicorn hands it the supervisor's socket."""
    return pickle.loads(pickle.dumps(sock))


def accept_all(listening: list[socket.socket], expected: int) -> list[int]:
    """Accept ``expected`` connections from the listening sockets; how many each one took."""
    taken = [0] * len(listening)
    while sum(taken) < expected:
        ready, _, _ = select.select(listening, [], [], 5)
        assert ready, f"only {sum(taken)} of {expected} connections arrived"
        for sock in ready:
            connection, _ = sock.accept()
            connection.close()
            taken[listening.index(sock)] += 1
    return taken


def test_each_worker_gets_a_socket_of_its_own_bound_to_the_supervisors_address():
    with listener.claim(("127.0.0.1", 0)) as supervisor:
        with worker_copy(supervisor) as one, worker_copy(supervisor) as two:
            assert one.getsockname() == two.getsockname() == supervisor.getsockname()
            assert len({supervisor.fileno(), one.fileno(), two.fileno()}) == 3
            assert one.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert isinstance(one, listener.WorkerSocket)  # a restarted worker's copy is made the same way


def test_the_kernel_spreads_connections_over_the_workers_sockets():
    with listener.claim(("127.0.0.1", 0)) as supervisor:
        workers = [worker_copy(supervisor) for _ in range(2)]
        try:
            for sock in workers:
                sock.listen(128)
            clients = [socket.create_connection(supervisor.getsockname()[:2]) for _ in range(64)]
            taken = accept_all(workers, 64)
            for client in clients:
                client.close()
        finally:
            for sock in workers:
                sock.close()
    # Hashed over two sockets, 64 connections all but never split worse than 8 / 56.
    assert min(taken) >= 8, taken


def test_the_supervisors_socket_takes_no_connection():
    with listener.claim(("127.0.0.1", 0)) as supervisor:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(supervisor.getsockname()[:2], timeout=2)


def test_an_address_something_listens_on_is_refused():
    with socket.create_server(("127.0.0.1", 0)) as other:
        with pytest.raises(OSError):
            listener.claim(other.getsockname())


def test_a_second_supervisor_on_the_same_port_is_refused():
    """SO_REUSEPORT alone would let a second ``serve --workers`` share the first one's port."""
    with listener.claim(("127.0.0.1", 0)) as supervisor, worker_copy(supervisor) as worker:
        worker.listen(8)
        with pytest.raises(OSError):
            listener.claim(supervisor.getsockname())


def test_serve_with_workers_says_which_address_it_cannot_listen_on():
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        config = uvicorn.Config("hubbub.asgi:project_application", factory=True, host="127.0.0.1", port=port, workers=2)
        with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{port}: "):
            serve_workers(config)
