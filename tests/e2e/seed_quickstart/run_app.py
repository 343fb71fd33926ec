"""The seed's quick start served by the blocking ``engine.run()`` instead of its ``main()``
(the seed's "Engine Lifecycle: run() vs. start()"): stops on SIGINT or SIGTERM."""

from my_app import engine

engine.run()
