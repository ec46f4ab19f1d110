package dev.sparkdpo.tests.cluster;

import java.lang.reflect.InvocationTargetException;
import java.util.Arrays;
import java.util.Optional;

/**
 * Entry point of the master/worker JVMs started by {@link StandaloneCluster}:
 * {@code DaemonMain <parentPid> <sparkMainClass> <args...>}. A watchdog thread exits this JVM (running Spark's
 * shutdown hooks, so a worker also kills its executors) as soon as the JVM that started the cluster is gone, even
 * when that one was killed with SIGKILL and could not run its own shutdown hook.
 *
 * <p>Deliberately self-contained (no lambdas capturing other project classes, no nested classes): the harness
 * copies only this class file next to the Spark jars.
 */
public final class DaemonMain {

    private DaemonMain() {
    }

    public static void main(String[] args) throws Throwable {
        if (args.length < 2) {
            System.err.println("usage: DaemonMain <parentPid> <mainClass> [args...]");
            System.exit(2);
        }
        long parentPid = Long.parseLong(args[0]);
        String mainClass = args[1];
        String[] rest = Arrays.copyOfRange(args, 2, args.length);

        Optional<ProcessHandle> parent = ProcessHandle.of(parentPid);
        if (parent.isEmpty()) {
            System.err.println("DaemonMain: parent JVM " + parentPid + " is already gone, not starting " + mainClass);
            System.exit(3);
        }
        Thread watchdog = new Thread(() -> {
            parent.get().onExit().join();
            System.err.println("DaemonMain: parent JVM " + parentPid + " exited, stopping " + mainClass);
            System.exit(143);
        }, "parent-jvm-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        try {
            Class.forName(mainClass).getMethod("main", String[].class).invoke(null, (Object) rest);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
