// A third-party VDA 5050 party for the tests: coatyio's vda-5050-lib (npm, MIT) run under node.
//
//   node driver.js '<json config>'
//
// config: {role, broker, version, interfaceName, agv: {manufacturer, serialNumber}, ...}
//   role "agv":      an AgvController with the library's VirtualAgvAdapter (a complete AGV
//                    that drives orders along their edges); options: initialPosition,
//                    vehicleSpeed, stateIntervalMs, visualizationIntervalMs, heartbeatS.
//   role "master":   a MasterController for that AGV; commands on stdin:
//                    {"cmd": "order", "id": n, "order": {headerless order}}
//                    {"cmd": "instant", "id": n, "actions": [action, ...]}
//   role "validate": no broker; each stdin line {"topic", "version", "object"} is checked
//                    with the library's own schema validators.
// Every role: {"cmd": "stop"} stops orderly (an AGV says OFFLINE first) and exits 0.
// Output: one JSON object per line on stdout, {"event": ..., ...}; "ready" once started.

"use strict";

const readline = require("readline");
const lib = require("vda-5050-lib");
const { Client } = require("vda-5050-lib/common/client");

const config = JSON.parse(process.argv[2]);

function emit(event, fields) {
    process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function errorText(err) {
    return err === undefined || err === null ? null : String(err.message || err);
}

function clientOptions() {
    return {
        interfaceName: config.interfaceName || "uagv",
        transport: { brokerUrl: config.broker, heartbeat: config.heartbeatS || 2,
                     reconnectPeriod: 500 },
        vdaVersion: config.version,
    };
}

async function runAgv() {
    const agv = new lib.AgvController(
        config.agv,
        clientOptions(),
        {
            agvAdapterType: lib.VirtualAgvAdapter,
            publishStateInterval: config.stateIntervalMs || 1000,
            publishVisualizationInterval: config.visualizationIntervalMs || 500,
        },
        {
            initialPosition: config.initialPosition,
            vehicleSpeed: config.vehicleSpeed || 2,
            initialBatteryCharge: config.battery || 90,
        },
    );
    await agv.start();
    return agv;
}

async function runMaster() {
    const master = new lib.MasterController(clientOptions(), { targetAgvs: config.agv });
    await master.start();
    master.trackAgvs((agvId, state, timestamp) => emit("connection", { agvId, state, timestamp }));
    await master.subscribe(lib.Topic.State, config.agv, state => emit("state", { state }));
    return master;
}

function orderHandler(id) {
    return {
        onOrderProcessed: (withError, byCancelation, active, ctx) => emit("order_processed", {
            id, error: errorText(withError), byCancelation, active,
            orderUpdateId: ctx.order.orderUpdateId }),
        onNodeTraversed: (node, nextEdge, nextNode, ctx) => emit("node_traversed", {
            id, nodeId: node.nodeId, sequenceId: node.sequenceId,
            orderUpdateId: ctx.order.orderUpdateId }),
        onEdgeTraversed: (edge) => emit("edge_traversed", { id, edgeId: edge.edgeId }),
        onActionStateChanged: (actionState, withError) => emit("order_action", {
            id, actionState, error: errorText(withError) }),
    };
}

function actionHandler(id) {
    return {
        onActionStateChanged: (actionState, withError, action) => emit("action", {
            id, actionType: action.actionType, actionId: action.actionId,
            status: actionState.actionStatus, error: errorText(withError) }),
        onActionError: (error, action) => emit("action_error", {
            id, actionType: action.actionType, actionId: action.actionId,
            error: errorText(error) }),
    };
}

async function onMasterCommand(master, msg) {
    try {
        if (msg.cmd === "order") {
            const sent = await master.assignOrder(config.agv, msg.order, orderHandler(msg.id));
            emit("published", { id: msg.id, headerId: sent ? sent.headerId : null,
                                discarded: sent === undefined });
        } else if (msg.cmd === "instant") {
            const sent = await master.initiateInstantActions(
                config.agv, { instantActions: msg.actions }, actionHandler(msg.id));
            emit("published", { id: msg.id, headerId: sent ? sent.headerId : null });
        } else {
            emit("error", { id: msg.id, message: `unknown command ${msg.cmd}` });
        }
    } catch (err) {
        emit("error", { id: msg.id, message: errorText(err) });
    }
}

function validate(msg) {
    try {
        Client.prototype.validateTopicObject.call({}, msg.topic, msg.object, msg.version);
        emit("valid", { ok: true });
    } catch (err) {
        emit("valid", { ok: false, error: errorText(err) });
    }
}

async function main() {
    let party = null;
    if (config.role === "agv") {
        party = await runAgv();
    } else if (config.role === "master") {
        party = await runMaster();
    } else if (config.role !== "validate") {
        throw new Error(`unknown role ${config.role}`);
    }
    const lines = readline.createInterface({ input: process.stdin });
    lines.on("line", async line => {
        const msg = JSON.parse(line);
        if (msg.cmd === "stop") {
            if (party !== null) {
                await party.stop();
            }
            emit("stopped", {});
            process.exit(0);
        } else if (config.role === "validate") {
            validate(msg);
        } else if (config.role === "master") {
            await onMasterCommand(party, msg);
        }
    });
    lines.on("close", () => process.exit(0));
    emit("ready", { role: config.role, version: config.version });
}

main().catch(err => {
    emit("fatal", { message: errorText(err) });
    process.exit(1);
});
