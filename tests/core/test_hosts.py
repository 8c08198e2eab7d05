"""Host identity: which records this host may observe and signal, from the real kernel's ids."""

from __future__ import annotations

import os

from plugin_core import CommandService, CommandServiceConfig, ContainerService
from plugin_core.hosts import HostIdentity, observable_here, relation, this_host


def test_this_host_reads_the_kernels_ids() -> None:
    here = this_host()
    with open("/proc/sys/kernel/random/boot_id") as handle:
        assert here.boot_id == handle.read().strip()
    assert here.pid_namespace == os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]")
    assert here.hostname and here.describe().startswith(here.hostname)


def test_relations() -> None:
    here = this_host()
    assert relation(None) == "here"  # recorded before owners were kept: as every version assumed
    assert relation(here) == "here"
    renamed = here.model_copy(update={"hostname": "renamed"})
    assert relation(renamed) == "here"  # the same pids are visible, whatever the name
    other_namespace = here.model_copy(update={"pid_namespace": "1"})
    assert relation(other_namespace) == "elsewhere"  # a container or another unshare
    earlier_boot = here.model_copy(update={"boot_id": "0" * 32})
    expected = "ended" if here.machine_id else "elsewhere"
    assert relation(earlier_boot) == expected  # every process of that boot is gone
    other_machine = HostIdentity(hostname="host-z", machine_id="f" * 32, boot_id="1" * 32)
    assert relation(other_machine) == "elsewhere"


def test_only_local_processes_are_bound_to_their_host() -> None:
    elsewhere = HostIdentity(hostname="host-z", machine_id="f" * 32, boot_id="1" * 32)
    local = CommandService(config=CommandServiceConfig(name="p", command=["sleep", "1"]))
    local.status.owner_host = elsewhere
    assert not observable_here(local)
    container = ContainerService.http("c", "img:1", ["true"])
    container.status.owner_host = elsewhere
    assert observable_here(container)  # reached through the shared engine from anywhere
