// This file holds every sentence natcheck prints, in English and in French.
// The French follows the vocabulary of the operator's guide ("Comment obtenir
// une meilleure connectivité entre pairs"): NAT de source, NAT de
// destination, hôte DMZ, fournisseur d'accès, filtre basé sur une politique,
// UPnP « souvent problématique et non sûr », en dernier recours.

package main

import "fmt"

// catalog maps a message key to its English and French text (fmt formats
// with the same verbs in the same order).
var catalog = map[string][2]string{
	// Verdict headlines.
	"h.no-nat": {
		"No NAT: the internet sees this machine's own address.",
		"Pas de NAT : l'internet voit l'adresse propre de cette machine.",
	},
	"h.mapped": {
		"Source NAT, and a port mapping works: your router opened a port for this machine on request (%s).",
		"NAT de source, et une redirection de port fonctionne : votre routeur a ouvert un port pour cette machine à la demande (%s).",
	},
	"h.nat-punchable": {
		"Source NAT without a port mapping: peers can reach your node by hole punching only.",
		"NAT de source sans redirection de port : les pairs ne peuvent joindre votre nœud que par perçage de trou (hole punching).",
	},
	"h.nat-punchable.forwarded": {
		"Source NAT without a port mapping, but your router already lets unsolicited datagrams through to this machine.",
		"NAT de source sans redirection de port, mais votre routeur laisse déjà passer les datagrammes entrants vers cette machine.",
	},
	"h.nat-hard": {
		"Source NAT with endpoint-dependent mapping (a \"symmetric\" NAT): hole punching rarely works, and your node will often need a relay.",
		"NAT de source avec un mappage dépendant de la destination (NAT « symétrique ») : le perçage de trou échoue le plus souvent, et votre nœud aura souvent besoin d'un relais.",
	},
	"h.carrier-nat": {
		"Several layers of source NAT: your provider runs a NAT in front of your router.",
		"Plusieurs couches de NAT de source : votre fournisseur d'accès exécute un NAT devant votre routeur.",
	},
	"h.double-nat": {
		"Two layers of source NAT at home: your router is connected to another router (often your provider's box), which does NAT too.",
		"Deux couches de NAT de source chez vous : votre routeur est branché sur un autre routeur (souvent la box de votre fournisseur d'accès), qui fait lui aussi du NAT.",
	},
	"h.udp-blocked": {
		"UDP does not get through: a policy filter drops it.",
		"UDP ne passe pas : un filtre basé sur une politique le supprime.",
	},
	"h.unknown": {
		"natcheck could not tell what stands between this machine and the internet.",
		"natcheck n'a pas pu déterminer ce qui se trouve entre cette machine et l'internet.",
	},

	// Explanations.
	"e.no-nat.open": {
		"Nothing filters unsolicited datagrams either: peers can reach your node directly.",
		"Rien ne filtre non plus les datagrammes entrants : les pairs peuvent joindre votre nœud directement.",
	},
	"e.no-nat.firewall": {
		"A firewall filters unsolicited datagrams (%s filtering): peers reach your node only once its port is open in it.",
		"Un pare-feu filtre les datagrammes entrants (filtrage %s) : les pairs ne joindront votre nœud qu'une fois son port ouvert dans ce pare-feu.",
	},
	"e.no-nat.unknown": {
		"Whether a firewall filters unsolicited datagrams could not be measured.",
		"Le filtrage des datagrammes entrants par un pare-feu n'a pas pu être mesuré.",
	},
	"e.mapped": {
		"Peers can reach your node at %s: the router's external address is the one the internet sees, so no other NAT stands beyond it.",
		"Les pairs peuvent joindre votre nœud à %s : l'adresse externe du routeur est celle que voit l'internet, aucun autre NAT ne se trouve donc au-delà.",
	},
	"e.mapped.hard": {
		"Without the mapping your NAT's mapping is endpoint-dependent, so keep the mapping (or a destination NAT) in place.",
		"Sans cette redirection, le mappage de votre NAT dépend de la destination : gardez la redirection (ou un NAT de destination) en place.",
	},
	"w.upnp": {
		"Warning: this mapping was made with UPnP, which is often problematic and unsafe; UPnP should be considered only as a last resort.",
		"Attention : cette redirection a été faite avec UPnP, dont l'utilisation est souvent problématique et non sûre ; l'UPnP ne doit être considéré qu'en dernier recours.",
	},
	"e.punchable": {
		"Your NAT keeps the same public address, %s, whatever the destination (endpoint-independent mapping): peers can reach your node by hole punching, which usually works, though not from every network.",
		"Votre NAT garde la même adresse publique, %s, quelle que soit la destination (mappage indépendant de la destination) : les pairs peuvent joindre votre nœud par perçage de trou, ce qui marche le plus souvent, mais pas depuis tous les réseaux.",
	},
	"e.forwarded": {
		"Unsolicited datagrams already get through to this machine (endpoint-independent filtering): a destination NAT or a DMZ host seems to be configured on your router.",
		"Les datagrammes entrants parviennent déjà à cette machine (filtrage indépendant de la destination) : un NAT de destination ou un hôte DMZ semble configuré sur votre routeur.",
	},
	"e.hard": {
		"Your NAT gives your node a different public address for each destination (%s mapping): the address peers learn is useless to them.",
		"Votre NAT donne à votre nœud une adresse publique différente pour chaque destination (mappage %s) : l'adresse qu'apprennent les pairs ne leur sert à rien.",
	},
	"e.nomap": {
		"No port mapping could be opened: %s.",
		"Aucune redirection de port n'a pu être ouverte : %s.",
	},
	"e.nomap.silent": {
		"no PCP, NAT-PMP or UPnP service on the router granted one",
		"aucun service PCP, NAT-PMP ou UPnP du routeur n'en a accordé",
	},
	"e.nomap.bind": {
		"natcheck could not use %s (%s), and leaves a port in use alone",
		"natcheck n'a pas pu utiliser %s (%s), et ne touche pas à un port déjà utilisé",
	},
	"e.nomap.nottried": {
		"natcheck did not try (-portmap=false)",
		"natcheck n'a pas essayé (-portmap=false)",
	},
	"e.carrier.shared": {
		"Your router's external address, %s, is in the provider's shared address space (100.64.0.0/10), not on the internet.",
		"L'adresse externe de votre routeur, %s, est dans l'espace d'adresses partagé du fournisseur (100.64.0.0/10), pas sur l'internet.",
	},
	"e.carrier.private": {
		"Your router's external address, %s, is a private address, not on the internet.",
		"L'adresse externe de votre routeur, %s, est une adresse privée, pas sur l'internet.",
	},
	"e.carrier.differs": {
		"Your router's external address is %s, but the internet sees %s: another NAT stands beyond your router.",
		"L'adresse externe de votre routeur est %s, mais l'internet voit %s : un autre NAT se trouve au-delà de votre routeur.",
	},
	"e.carrier.refused": {
		"Your router refused the port mapping because it stands behind another NAT.",
		"Votre routeur a refusé la redirection de port parce qu'il se trouve lui-même derrière un autre NAT.",
	},
	"e.carrier.notpublic": {
		"Your router made the mapping, but its external address is not on the internet (%s).",
		"Votre routeur a fait la redirection, mais son adresse externe n'est pas sur l'internet (%s).",
	},
	"e.carrier": {
		"A mapping or a destination NAT on your own router cannot open a port to the internet.",
		"Une redirection ou un NAT de destination sur votre propre routeur ne peut pas ouvrir de port vers l'internet.",
	},
	"e.double": {
		"Your router's external address, %s, is a private address: the NAT beyond it is run by a router on your side (a private range, not the provider's shared space 100.64.0.0/10), unless your provider numbers its own NAT with private addresses.",
		"L'adresse externe de votre routeur, %s, est une adresse privée : le NAT au-delà est exécuté par un routeur de votre côté (une plage privée, pas l'espace partagé 100.64.0.0/10 du fournisseur), à moins que votre fournisseur d'accès ne numérote son propre NAT avec des adresses privées.",
	},
	"e.double.hop": {
		"Your router stands behind another NAT and does not tell its external address; the router beyond it answers from %s, a private address: that NAT is run by a router on your side (a private range, not the provider's shared space 100.64.0.0/10), unless your provider numbers its own NAT with private addresses.",
		"Votre routeur se trouve derrière un autre NAT et ne donne pas son adresse externe ; le routeur au-delà répond depuis %s, une adresse privée : ce NAT est exécuté par un routeur de votre côté (une plage privée, pas l'espace partagé 100.64.0.0/10 du fournisseur), à moins que votre fournisseur d'accès ne numérote son propre NAT avec des adresses privées.",
	},
	"e.double.mapping": {
		"A port mapping or a destination NAT on your router alone opens nothing to the internet: the outer router drops what comes in first.",
		"Une redirection de port ou un NAT de destination sur votre seul routeur n'ouvre rien vers l'internet : le routeur extérieur rejette d'abord ce qui arrive.",
	},
	"e.udp-blocked": {
		"The STUN servers answer over TCP but never over UDP, so your provider or a firewall drops UDP. Direct peer-to-peer connections over UDP are impossible from here.",
		"Les serveurs STUN répondent par TCP mais jamais par UDP : votre fournisseur d'accès ou un pare-feu supprime UDP. Les connexions directes entre pairs par UDP sont impossibles d'ici.",
	},
	"e.relay.tcp": {
		"natx allocated a TURN relay over TCP on %s: peers can reach this machine through it.",
		"natx a obtenu un relais TURN par TCP sur %s : les pairs peuvent joindre cette machine par ce relais.",
	},
	"e.relay.tls": {
		"natx allocated a TURN relay over TLS on %s (not over TCP to the server's own port): peers can reach this machine through it.",
		"natx a obtenu un relais TURN par TLS sur %s (pas par TCP vers le port du serveur lui-même) : les pairs peuvent joindre cette machine par ce relais.",
	},
	"e.relay.none": {
		"natx could allocate no TURN relay (tried: %s): neither TCP nor TLS on port 443 got through, or the server refused.",
		"natx n'a pu obtenir aucun relais TURN (essayé : %s) : ni TCP ni TLS sur le port 443 ne passent, ou le serveur a refusé.",
	},
	"e.unknown.noudp": {
		"No STUN server answered over UDP before the deadline, so nothing could be measured.",
		"Aucun serveur STUN n'a répondu par UDP avant l'échéance : rien n'a pu être mesuré.",
	},
	"e.unknown.mapping": {
		"Your node is behind a source NAT, but how the NAT maps its address could not be measured (see the notes of -json).",
		"Votre nœud est derrière un NAT de source, mais la façon dont ce NAT traduit son adresse n'a pas pu être mesurée (voir les notes de -json).",
	},
	"e.inconsistent": {
		"The STUN servers gave contradicting answers, so nothing is claimed about the mapping.",
		"Les serveurs STUN ont donné des réponses contradictoires : rien n'est affirmé sur le mappage.",
	},

	// Steps, in the guide's order.
	"s.provider": {
		"Get rid of the NAT or the filter: check with your provider that they run no source NAT and no policy filter for you; if they do, ask them not to.",
		"Débarrassez-vous du NAT ou du filtre : vérifiez que votre fournisseur d'accès n'exécute pas de NAT de source ni de filtre basé sur une politique pour vous ; si c'est le cas, demandez-lui de ne pas les appliquer pour vous.",
	},
	"s.provider.carrier": {
		"Ask your provider to stop source NAT for you: ask for a public IPv4 address of your own, or for IPv6.",
		"Demandez à votre fournisseur d'accès de ne plus appliquer de NAT de source pour vous : demandez une adresse IPv4 publique à vous, ou IPv6.",
	},
	"s.carrier.own": {
		"If that other NAT is a router of your own (two routers in a row), configure destination NAT for %s on both, or make your router the DMZ host of the outer one.",
		"Si cet autre NAT est un routeur à vous (deux routeurs à la suite), configurez le NAT de destination pour %s sur les deux, ou faites de votre routeur l'hôte DMZ du routeur extérieur.",
	},
	"s.double.bridge": {
		"Remove one layer: put the provider's box in bridge mode (modem only) so that your router gets the public address, or connect this machine to the provider's box and not to your router.",
		"Supprimez une couche : mettez la box du fournisseur en mode pont (bridge, modem seul) pour que votre routeur reçoive l'adresse publique, ou branchez cette machine sur la box du fournisseur et non sur votre routeur.",
	},
	"s.double.dmz": {
		"Otherwise, on the outer router (the provider's box), make your router (%s) the DMZ host, or forward %s to it; then forward it on your router to this machine (or let natx map it there).",
		"Sinon, sur le routeur extérieur (la box du fournisseur), faites de votre routeur (%s) l'hôte DMZ, ou redirigez-lui %s ; puis redirigez-le sur votre routeur vers cette machine (ou laissez natx le faire).",
	},
	"s.double.dmz.noaddr": {
		"Otherwise, on the outer router (the provider's box), make your router the DMZ host, or forward %s to it (its address is in the outer router's list of devices); then forward it on your router to this machine (or let natx map it there).",
		"Sinon, sur le routeur extérieur (la box du fournisseur), faites de votre routeur l'hôte DMZ, ou redirigez-lui %s (son adresse figure dans la liste des appareils du routeur extérieur) ; puis redirigez-le sur votre routeur vers cette machine (ou laissez natx le faire).",
	},
	"s.double.provider": {
		"If you have only one router, the private address comes from your provider's own NAT: ask your provider for a public IPv4 address of your own, or for IPv6.",
		"Si vous n'avez qu'un seul routeur, l'adresse privée vient du NAT de votre fournisseur d'accès : demandez-lui une adresse IPv4 publique à vous, ou IPv6.",
	},
	"s.provider.filter": {
		"Ask your provider (or the network's administrator) to lift the policy filter that drops UDP for you.",
		"Demandez à votre fournisseur d'accès (ou à l'administrateur du réseau) de lever pour vous le filtre basé sur une politique qui supprime UDP.",
	},
	"s.dnat": {
		"Otherwise, on your own router, configure destination NAT: forward %s to %s, or make %s the DMZ host.",
		"Sinon, sur votre propre routeur, configurez le NAT de destination : redirigez %s vers %s, ou faites de %s l'hôte DMZ.",
	},
	"s.dnat.check": {
		"Make sure the destination NAT on your router covers %s (forwarded to %s), or that %s is the DMZ host.",
		"Vérifiez que le NAT de destination de votre routeur couvre %s (redirigé vers %s), ou que %s est l'hôte DMZ.",
	},
	"s.dnat.prefer": {
		"Prefer a destination NAT configured by hand on your router: forward %s to %s, or make %s the DMZ host.",
		"Préférez un NAT de destination configuré à la main sur votre routeur : redirigez %s vers %s, ou faites de %s l'hôte DMZ.",
	},
	"s.upnp.last": {
		"Use UPnP only as a last resort: it is often problematic and unsafe (natx tries PCP and NAT-PMP before it).",
		"N'utilisez UPnP qu'en dernier recours : il est souvent problématique et non sûr (natx essaie PCP et NAT-PMP avant lui).",
	},
	"s.upnp.off": {
		"Then turn UPnP off on your router: natx asks for UPnP only when neither PCP nor NAT-PMP answers.",
		"Désactivez ensuite UPnP sur votre routeur : natx ne recourt à UPnP que si ni PCP ni NAT-PMP ne répond.",
	},
	"s.mapped.keep": {
		"Nothing is required: natx opens and keeps such a mapping itself (%s).",
		"Rien n'est nécessaire : natx ouvre et entretient lui-même une telle redirection (%s).",
	},
	"s.mapped.fixed": {
		"For a setup that does not depend on the router's mapping service, configure destination NAT: forward %s to %s, or make %s the DMZ host.",
		"Pour une configuration qui ne dépend pas du service de redirection du routeur, configurez le NAT de destination : redirigez %s vers %s, ou faites de %s l'hôte DMZ.",
	},
	"s.relay": {
		"Meanwhile natx reaches peers by hole punching where the NATs allow it, and through a TURN relay otherwise: give your node a TURN server.",
		"En attendant, natx joint les pairs par perçage de trou quand les NAT le permettent, et sinon par un relais TURN : donnez un serveur TURN à votre nœud.",
	},
	"s.turn.tcp": {
		"Meanwhile natx falls back to a TURN relay over TCP or TLS: give your node a TURN server that accepts TCP or TLS.",
		"En attendant, natx se replie sur un relais TURN par TCP ou TLS : donnez à votre nœud un serveur TURN qui accepte TCP ou TLS.",
	},
	"s.nothing": {
		"Nothing to do.",
		"Rien à faire.",
	},
	"s.firewall": {
		"Open %s in the firewall for this machine.",
		"Ouvrez %s dans le pare-feu pour cette machine.",
	},
	"s.firewall.maybe": {
		"If a firewall stands in front of this machine, open %s in it.",
		"Si un pare-feu se trouve devant cette machine, ouvrez-y %s.",
	},
	"s.online": {
		"Check that this machine is online; try other STUN servers (-stun) or a longer -timeout.",
		"Vérifiez que cette machine est en ligne ; essayez d'autres serveurs STUN (-stun) ou un -timeout plus long.",
	},
	"s.udp.maybe": {
		"If only UDP is missing, ask your provider whether a policy filter drops it.",
		"S'il ne manque qu'UDP, demandez à votre fournisseur d'accès si un filtre basé sur une politique le supprime.",
	},

	// Pieces.
	"p.port": {"UDP port %d", "le port UDP %d"},
	"p.port.any": {
		"your node's UDP port",
		"le port UDP de votre nœud",
	},
	"p.thismachine": {"this machine", "cette machine"},
	"p.also":        {"Also: %s.", "Également : %s."},

	// Human output.
	"o.findings": {"What natcheck found:", "Constat :"},
	// IPv6 (ipv6.go).
	"h6.reachable": {
		"IPv6: reachable directly at %s: your router's firewall lets unsolicited datagrams in.",
		"IPv6 : joignable directement à %s : le pare-feu de votre routeur laisse passer les datagrammes entrants.",
	},
	"h6.reachable.pinhole": {
		"IPv6: reachable directly at %s through a pinhole natx opened in your router's firewall (%s).",
		"IPv6 : joignable directement à %s grâce à une ouverture (pinhole) que natx a faite dans le pare-feu de votre routeur (%s).",
	},
	"h6.firewalled": {
		"IPv6: this machine has a global address (%s) and no NAT, but your router's firewall drops unsolicited datagrams (%s filtering).",
		"IPv6 : cette machine a une adresse globale (%s), sans NAT, mais le pare-feu de votre routeur rejette les datagrammes entrants (filtrage %s).",
	},
	"h6.nat66": {
		"IPv6: your router translates IPv6 addresses (NAT66 or NPTv6): the internet sees %s. This works like IPv4 source NAT.",
		"IPv6 : votre routeur traduit les adresses IPv6 (NAT66 ou NPTv6) : l'internet voit %s. Cela fonctionne comme un NAT de source IPv4.",
	},
	"h6.nat66.reachable": {
		"IPv6: your router translates IPv6 addresses (NAT66 or NPTv6): the internet sees %s, and unsolicited datagrams get through to this machine there: reachable directly.",
		"IPv6 : votre routeur traduit les adresses IPv6 (NAT66 ou NPTv6) : l'internet voit %s, et les datagrammes entrants parviennent jusqu'à cette machine : joignable directement.",
	},
	"h6.udp-blocked": {
		"IPv6: UDP over IPv6 gets no answer while TCP does: a policy filter drops it.",
		"IPv6 : l'UDP en IPv6 ne reçoit aucune réponse alors que TCP en reçoit : un filtre basé sur une politique le bloque.",
	},
	"h6.no-ipv6": {
		"IPv6: this machine has no global IPv6 address.",
		"IPv6 : cette machine n'a pas d'adresse IPv6 globale.",
	},
	"h6.unknown": {
		"IPv6: natcheck could not tell whether IPv6 makes your node reachable (%s).",
		"IPv6 : natcheck n'a pas pu dire si l'IPv6 rend votre nœud joignable (%s).",
	},
	"h6.why.untested": {"no STUN server with an IPv6 address was given", "aucun serveur STUN avec une adresse IPv6 n'a été donné"},
	"h6.why.silent":   {"no STUN server answered over IPv6", "aucun serveur STUN n'a répondu en IPv6"},
	"h6.why.filtering": {
		"this machine is at %s, but whether the firewall lets unsolicited datagrams in could not be measured",
		"cette machine est à %s, mais on n'a pas pu mesurer si le pare-feu laisse passer les datagrammes entrants",
	},
	"s6.nothing": {
		"Nothing to do for IPv6: peers with IPv6 reach your node directly.",
		"Rien à faire pour l'IPv6 : les pairs en IPv6 joignent votre nœud directement.",
	},
	"s6.keep-pinholes": {
		"Nothing to do for IPv6: natx opens the pinhole itself. Keep PCP or UPnP IGD:2 pinholes enabled on the router.",
		"Rien à faire pour l'IPv6 : natx fait l'ouverture lui-même. Laissez les ouvertures (pinholes) PCP ou UPnP IGD:2 activées sur le routeur.",
	},
	"s6.pinhole": {
		"Open %s in your router's IPv6 firewall for this machine (%s), or enable PCP or UPnP IGD:2 pinholes on the router so that natx opens it itself.",
		"Ouvrez %s dans le pare-feu IPv6 de votre routeur pour cette machine (%s), ou activez les ouvertures (pinholes) PCP ou UPnP IGD:2 sur le routeur pour que natx l'ouvre lui-même.",
	},
	"s6.nat66": {
		"Turn off IPv6 address translation (NAT66/NPTv6) on your router if you can, so that this machine uses its own global address; else treat IPv6 like IPv4 above.",
		"Désactivez la traduction d'adresses IPv6 (NAT66/NPTv6) sur votre routeur si vous le pouvez, pour que cette machine utilise sa propre adresse globale ; sinon, traitez l'IPv6 comme l'IPv4 ci-dessus.",
	},
	"s6.udp": {
		"Ask your network's administrator to let UDP through over IPv6, or give natx a relay it reaches over TCP or TLS (-turn).",
		"Demandez à l'administrateur de votre réseau de laisser passer l'UDP en IPv6, ou donnez à natx un relais joignable par TCP ou TLS (-turn).",
	},
	"s6.ask": {
		"Ask your provider for IPv6 and enable it on your router: over IPv6 your node needs no NAT traversal, only an opening in the router's firewall.",
		"Demandez l'IPv6 à votre fournisseur d'accès et activez-le sur votre routeur : en IPv6, votre nœud n'a pas besoin de traverser un NAT, seulement d'une ouverture dans le pare-feu du routeur.",
	},
	"s6.test": {
		"Run natcheck again with a STUN server that has an IPv6 address (-stun) to test IPv6.",
		"Relancez natcheck avec un serveur STUN qui a une adresse IPv6 (-stun) pour tester l'IPv6.",
	},
	"o.ipv6":            {"IPv6", "IPv6"},
	"o.ipv6.none":       {"no global address on this machine", "aucune adresse globale sur cette machine"},
	"o.ipv6.untested":   {"not tested (no STUN server with an IPv6 address)", "non testé (aucun serveur STUN avec une adresse IPv6)"},
	"o.ipv6.silent":     {"no answer", "pas de réponse"},
	"o.ipv6.translated": {"translated (NAT66/NPTv6)", "traduite (NAT66/NPTv6)"},
	"o.ipv6.addr":       {"%s, NAT: %s; firewall: %s filtering", "%s, NAT : %s ; pare-feu : filtrage %s"},
	"o.verdict":         {"Verdict: %s", "Verdict : %s"},
	"o.todo":            {"What to do:", "Ce qu'il faut faire :"},
	"o.udp":             {"UDP", "UDP"},
	"o.udp.yes":         {"works", "fonctionne"},
	"o.udp.blocked":     {"blocked (STUN answers over TCP only)", "bloqué (STUN ne répond que par TCP)"},
	"o.udp.unknown":     {"no answer", "pas de réponse"},
	"o.public":          {"Public address", "Adresse publique"},
	"o.local":           {"This machine", "Cette machine"},
	"o.nat":             {"NAT", "NAT"},
	"o.nat.no":          {"none", "aucun"},
	"o.nat.yes":         {"source NAT: %s mapping, %s filtering", "NAT de source : mappage %s, filtrage %s"},
	"o.nat.unknown":     {"unknown", "inconnu"},
	"o.firewall":        {"%s filtering", "filtrage %s"},
	"o.portmap":         {"Port mapping", "Redirection de port"},
	"o.portmap.ok":      {"%s: %s -> %s, lifetime %s, %s", "%s : %s -> %s, durée %s, %s"},
	"o.removed":         {"deleted before exit", "supprimée avant la sortie"},
	"o.notremoved":      {"deletion failed: %s", "échec de la suppression : %s"},
	"o.portmap.fail":    {"none (%s)", "aucune (%s)"},
	"o.portmap.off":     {"not tried", "non essayée"},
	"o.fail.carrier":    {"the router is behind another NAT", "le routeur est derrière un autre NAT"},
	"o.fail.bind":       {"port in use: %s", "port déjà utilisé : %s"},
	"o.fail.silent":     {"not granted by PCP, NAT-PMP or UPnP; -json has the details", "refusée ou sans réponse en PCP, NAT-PMP et UPnP ; détails dans -json"},
	"o.servers":         {"STUN servers", "Serveurs STUN"},
	"o.server.ok":       {"%s answered in %.1f ms%s", "%s a répondu en %.1f ms%s"},
	"o.server.no":       {"%s did not answer", "%s n'a pas répondu"},
	"o.interrupted":     {"natcheck: interrupted; mapping deleted", "natcheck : interrompu ; redirection supprimée"},

	// RFC 4787 behaviours.
	"b.endpoint-independent":       {"endpoint-independent", "indépendant de la destination"},
	"b.address-dependent":          {"address-dependent", "dépendant de l'adresse"},
	"b.address-and-port-dependent": {"address-and-port-dependent", "dépendant de l'adresse et du port"},
	"b.unknown":                    {"unknown", "inconnu"},

	// Protocols.
	"v.pcp":    {"PCP", "PCP"},
	"v.natpmp": {"NAT-PMP", "NAT-PMP"},
	"v.upnp":   {"UPnP", "UPnP"},
}

// t returns the message key in l, formatted with args. An unknown key is a
// programming error, shown as such rather than hidden.
func (l lang) t(key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return "!" + key
	}
	s := m[0]
	if l == french {
		s = m[1]
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}
