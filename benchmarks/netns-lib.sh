# netns-lib.sh - stand-in machines on one host: each node of a libdsm job in
# its own network namespace, joined by veth pairs to a bridge, optionally
# with `tc netem` delay and rate on every link.
# SPDX-License-Identifier: BSD-3-Clause
#
# Sourced (not run) by dsm-bench(1) and tests/netns/check_netns.sh, so that
# the namespace plumbing and, above all, its cleanup exist once.  Needs root
# and iproute2.  Bash; sets no shell options of its own.
#
# Layout for a TAG (a short prefix unique to the caller, e.g. dsmb$$) and N
# nodes on PREFIX.0/24 (PREFIX is three octets, e.g. 10.77.0):
#
#   namespace TAGbr     bridge br0, and port pI for every node I
#   namespace TAGnI     node I (0 <= I < N): eth0 = PREFIX.(I+1)/24, lo up
#
# Every veth is created directly inside the two namespaces it joins, so the
# root namespace never holds a device of ours: deleting the namespaces
# (netns_cleanup) removes every device, and two callers with different
# TAGs never collide, even when they use the same PREFIX.
#
# With a delay D and/or a rate R, node I's eth0 gets `netem delay D rate R`
# (what it sends waits D and leaves at most at R) and the bridge port pI
# `netem rate R` (what it receives arrives at most at R): one-way latency D
# between any two nodes, a round trip 2D, and a full-duplex link of R per
# node, as on a switched cluster.

# netns_name TAG I: the name of node I's namespace.
netns_name() {
	printf '%sn%s\n' "$1" "$2"
}

# netns_addr PREFIX I: node I's address.  Node 0's is where the job's root
# listens (DSM_ROOT_ADDR).
netns_addr() {
	printf '%s.%s\n' "$1" "$(($2 + 1))"
}

# netns_list TAG: the namespaces that exist now for TAG, one a line.  The
# pattern is anchored so that TAG dsmb1 never matches dsmb12's namespaces.
netns_list() {
	ip netns list 2>/dev/null | awk -v t="$1" '
		{ n = $1; if (n == t "br" || (index(n, t "n") == 1 && substr(n, length(t) + 2) ~ /^[0-9]+$/)) print n }'
}

# netns_cleanup TAG: kill whatever still runs in TAG's namespaces and delete
# them (and with them every veth and the bridge).  Safe to call twice, or
# when nothing was created; meant for an EXIT trap.
netns_cleanup() {
	local ns
	for ns in $(netns_list "$1"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# netns_setup TAG N PREFIX [DELAY [RATE]]: build the layout above.  DELAY
# (e.g. 100us) and RATE (e.g. 1gbit) may be empty.  Returns
#   0  done (with netem where a delay or rate was asked)
#   1  the namespaces, bridge or veths could not be made (NETNS_ERROR says
#      why; call netns_cleanup)
#   3  the layout is complete but netem could not be added (this kernel
#      lacks sch_netem, CONFIG_NET_SCH_NETEM): the links work, without the
#      delay and rate; NETNS_ERROR says so.  The caller decides whether that
#      is fatal.
NETNS_ERROR=
netns_setup() {
	local tag=$1 n=$2 prefix=$3 delay=${4:-} rate=${5:-}
	local br="${1}br" ns i j err netem=() tcerr
	NETNS_ERROR=
	command -v ip >/dev/null 2>&1 || { NETNS_ERROR="iproute2 (ip) is not installed"; return 1; }
	if ! err=$(ip netns add "$br" 2>&1); then
		NETNS_ERROR="cannot create network namespaces here: ${err:-ip netns add failed}"
		return 1
	fi
	if ! err=$( { ip -n "$br" link add br0 type bridge && ip -n "$br" link set br0 up &&
		      ip -n "$br" link set lo up; } 2>&1); then
		NETNS_ERROR="cannot create a bridge in a namespace: $err"
		return 1
	fi
	for ((i = 0; i < n; i++)); do
		ns=$(netns_name "$tag" "$i")
		if ! err=$( { ip netns add "$ns" &&
			      ip link add name eth0 netns "$ns" type veth peer name "p$i" netns "$br" &&
			      ip -n "$br" link set "p$i" master br0 up &&
			      ip -n "$ns" addr add "$(netns_addr "$prefix" "$i")/24" dev eth0 &&
			      ip -n "$ns" link set eth0 up &&
			      ip -n "$ns" link set lo up; } 2>&1); then
			NETNS_ERROR="cannot set up node $i's namespace $ns: $err"
			return 1
		fi
	done
	[ -n "$delay$rate" ] || return 0

	# netem lives in a module that may not be loaded yet (and may not exist).
	modprobe -q sch_netem 2>/dev/null
	[ -n "$delay" ] && netem+=(delay "$delay")
	[ -n "$rate" ] && netem+=(rate "$rate")
	for ((i = 0; i < n; i++)); do
		ns=$(netns_name "$tag" "$i")
		if ! tcerr=$(ip netns exec "$ns" tc qdisc add dev eth0 root netem "${netem[@]}" 2>&1) ||
		   { [ -n "$rate" ] &&
		     ! tcerr=$(ip netns exec "$br" tc qdisc add dev "p$i" root netem rate "$rate" 2>&1); }; then
			if grep -qi "unknown\|no such file\|not supported" <<<"$tcerr"; then
				NETNS_ERROR="this kernel has no netem (CONFIG_NET_SCH_NETEM, module sch_netem): tc says: ${tcerr//$'\n'/ }"
			else
				NETNS_ERROR="tc qdisc add ... netem ${netem[*]} failed on node $i's link: ${tcerr//$'\n'/ }"
			fi
			# No half-delayed network: take off whatever netem went on.
			for ((j = 0; j <= i; j++)); do
				ip netns exec "$(netns_name "$tag" "$j")" tc qdisc del dev eth0 root 2>/dev/null
				ip netns exec "$br" tc qdisc del dev "p$j" root 2>/dev/null
			done
			return 3
		fi
	done
	return 0
}
